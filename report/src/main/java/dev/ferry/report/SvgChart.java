package dev.ferry.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleFunction;

/**
 * One chart as SVG text, drawn directly: a plot area with a time (or other) x axis from 0 and a y
 * axis from 0, "nice" ticks (1, 2 or 5 times a power of ten), bars, lines, steps, vertical
 * markers and a legend. No script, no external font or style: the same text works inline in HTML
 * and as a standalone {@code .svg} file.
 *
 * <p>Not thread-safe; one chart is built by one thread.
 */
final class SvgChart {
  static final int WIDTH = 720;
  static final int HEIGHT = 270;
  private static final int LEFT = 78;
  private static final int RIGHT = 20;
  private static final int TOP = 34;
  private static final int BOTTOM = 44;

  private final String id;
  private final String title;
  private final double xMax;
  private final double yMax;
  private final DoubleFunction<String> xText;
  private final DoubleFunction<String> yText;
  private final StringBuilder plot = new StringBuilder();
  private final List<String[]> legend = new ArrayList<>();
  private boolean yTicks = true;
  private boolean legendAtTop;

  /**
   * @param xMax the largest x value to show (at least something above 0)
   * @param yMax the largest y value to show; the axis is rounded up to a tick
   */
  SvgChart(String id, String title, double xMax, double yMax, DoubleFunction<String> xText,
      DoubleFunction<String> yText) {
    this.id = id;
    this.title = title;
    this.xMax = xMax > 0 ? xMax : 1;
    this.yMax = niceCeiling(yMax > 0 ? yMax : 1);
    this.xText = xText;
    this.yText = yText;
  }

  private double px(double x) {
    return LEFT + (WIDTH - LEFT - RIGHT) * Math.max(0, Math.min(x, xMax)) / xMax;
  }

  private double py(double y) {
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * Math.max(0, Math.min(y, yMax)) / yMax;
  }

  /** Leaves out the y axis' ticks and labels (for a chart whose height means nothing). */
  SvgChart withoutYTicks() {
    yTicks = false;
    return this;
  }

  /** Puts the legend at the top of the plot, in as many rows as it needs (for a chart drawn low). */
  SvgChart withLegendAtTop() {
    legendAtTop = true;
    return this;
  }

  /** A series' name and colour in the legend. */
  SvgChart series(String name, String color) {
    legend.add(new String[] {name, color});
    return this;
  }

  /** A bar from x0 to x1, of height y, with a tooltip. */
  SvgChart bar(double x0, double x1, double y, String color, String tooltip) {
    double left = px(x0);
    double width = Math.max(1.5, px(x1) - left - 1);
    plot.append(String.format(Locale.ROOT,
        "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s</title></rect>",
        left, py(y), width, py(0) - py(y), color, Html.escape(tooltip)));
    return this;
  }

  /** A line through the points, each marked with a dot that has its tooltip. */
  SvgChart line(double[] xs, double[] ys, String[] tooltips, String color, boolean dashed) {
    if (xs.length == 0) {
      return this;
    }
    StringBuilder pts = new StringBuilder();
    for (int i = 0; i < xs.length; i++) {
      pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", px(xs[i]), py(ys[i])));
    }
    plot.append("<polyline class=\"series\" fill=\"none\" stroke=\"").append(color)
        .append("\" stroke-width=\"2\"").append(dashed ? " stroke-dasharray=\"6 4\"" : "").append(" points=\"")
        .append(pts.toString().trim()).append("\"/>");
    for (int i = 0; i < xs.length; i++) {
      plot.append(String.format(Locale.ROOT,
          "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>%s</title></circle>", px(xs[i]),
          py(ys[i]), color, Html.escape(tooltips[i])));
    }
    return this;
  }

  /** A step line: value ys[i] from xs0[i] to xs1[i]. */
  SvgChart steps(double[] xs0, double[] xs1, double[] ys, String[] tooltips, String color, boolean dashed) {
    for (int i = 0; i < ys.length; i++) {
      plot.append(String.format(Locale.ROOT,
          "<line class=\"series\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s>"
              + "<title>%s</title></line>",
          px(xs0[i]), py(ys[i]), px(xs1[i]), py(ys[i]), color, dashed ? " stroke-dasharray=\"6 4\"" : "",
          Html.escape(tooltips[i])));
    }
    return this;
  }

  /** A vertical marker at x (a decision, a phase change), labelled above the plot. */
  SvgChart marker(double x, String label, String tooltip, String color) {
    double p = px(x);
    plot.append(String.format(Locale.ROOT,
        "<g class=\"marker\"><title>%s</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
            + "stroke-width=\"2\" stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
            + "text-anchor=\"middle\" fill=\"%s\">%s</text></g>",
        Html.escape(tooltip), p, TOP, p, HEIGHT - BOTTOM, color, p, TOP - 3, color, Html.escape(label)));
    return this;
  }

  /** A note in the middle of the plot (for a chart with nothing to draw). */
  SvgChart note(String text) {
    plot.append(String.format(Locale.ROOT,
        "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" fill=\"#555\">%s</text>",
        (LEFT + WIDTH - RIGHT) / 2.0, (TOP + HEIGHT - BOTTOM) / 2.0, Html.escape(text)));
    return this;
  }

  String svg() {
    StringBuilder s = new StringBuilder();
    s.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"").append(Html.escape(id))
        .append("\" width=\"").append(WIDTH).append("\" height=\"").append(HEIGHT).append("\" viewBox=\"0 0 ")
        .append(WIDTH).append(' ').append(HEIGHT).append("\" font-family=\"sans-serif\" role=\"img\">");
    s.append("<title>").append(Html.escape(title)).append("</title>");
    s.append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    s.append("<text x=\"").append(LEFT).append("\" y=\"16\" font-size=\"14\" font-weight=\"bold\" fill=\"#222\">")
        .append(Html.escape(title)).append("</text>");
    axes(s);
    s.append(plot);
    legend(s);
    return s.append("</svg>").toString();
  }

  private void axes(StringBuilder s) {
    double yStep = niceStep(yMax);
    for (double y = 0; yTicks && y <= yMax * 1.0001; y += yStep) {
      s.append(String.format(Locale.ROOT,
          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/><text x=\"%d\" y=\"%.1f\" "
              + "font-size=\"10\" text-anchor=\"end\" fill=\"#444\">%s</text>",
          LEFT, py(y), WIDTH - RIGHT, py(y), LEFT - 6, py(y) + 3, Html.escape(yText.apply(y))));
    }
    double xStep = niceStep(xMax);
    for (double x = 0; x <= xMax * 1.0001; x += xStep) {
      s.append(String.format(Locale.ROOT,
          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/><text x=\"%.1f\" y=\"%d\" "
              + "font-size=\"10\" text-anchor=\"middle\" fill=\"#444\">%s</text>",
          px(x), HEIGHT - BOTTOM, px(x), HEIGHT - BOTTOM + 4, px(x), HEIGHT - BOTTOM + 16,
          Html.escape(xText.apply(x))));
    }
    s.append(String.format(Locale.ROOT,
        "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>"
            + "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>",
        LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, LEFT, TOP, LEFT, HEIGHT - BOTTOM));
  }

  private void legend(StringBuilder s) {
    int x = LEFT;
    int y = legendAtTop ? TOP + 4 : HEIGHT - 18;
    for (String[] e : legend) {
      int w = 26 + 7 * e[0].length();
      if (legendAtTop && x > LEFT && x + w > WIDTH - RIGHT) {
        x = LEFT;
        y += 16;
      }
      s.append(String.format(Locale.ROOT,
          "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" "
              + "y=\"%d\" font-size=\"11\" fill=\"#222\">%s</text></g>",
          x + (legendAtTop ? 6 : 0), y, e[1], x + (legendAtTop ? 22 : 16), y + 10, Html.escape(e[0])));
      x += w;
    }
  }

  /** A tick step for an axis up to {@code max}: 1, 2 or 5 times a power of ten, about five ticks. */
  static double niceStep(double max) {
    double raw = max / 5;
    double p = Math.pow(10, Math.floor(Math.log10(raw)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  /** {@code max} rounded up to a multiple of its tick step. */
  static double niceCeiling(double max) {
    double step = niceStep(max);
    return Math.ceil(max / step - 1e-9) * step;
  }
}
