import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Checks that ferry-bom manages exactly the published libraries: run by .ci/run as
 * {@code java .ci/BomCheck.java} from the repository root (exit status 1 and the differences when
 * they differ).
 *
 * <p>A module is a published library when it is listed in the root pom's {@code <modules>}, its
 * packaging is {@code jar} (the default), and its pom does not set the property
 * {@code ferry.published} to {@code false} (samples and benchmarks do: they are programs one runs,
 * not dependencies). The BOM's side is every {@code dev.ferry} artifact in its
 * {@code dependencyManagement}.
 */
public class BomCheck {
  public static void main(String[] args) throws Exception {
    Path root = Path.of(args.length > 0 ? args[0] : ".");
    TreeSet<String> published = new TreeSet<>();
    TreeSet<String> notPublished = new TreeSet<>();
    for (String module : children(parse(root.resolve("pom.xml")).getDocumentElement(), "modules", "module")) {
      Element pom = parse(root.resolve(module).resolve("pom.xml")).getDocumentElement();
      String artifactId = text(pom, "artifactId").orElseThrow();
      String packaging = text(pom, "packaging").orElse("jar");
      String flag = children(pom, "properties", "ferry.published").stream().findFirst().orElse("true").trim();
      if (!flag.equals("true") && !flag.equals("false")) {
        throw new IllegalStateException(module + "/pom.xml: ferry.published must be true or false, not " + flag);
      }
      (packaging.equals("jar") && flag.equals("true") ? published : notPublished).add(artifactId);
    }

    TreeSet<String> managed = new TreeSet<>();
    Element bom = parse(root.resolve("bom/pom.xml")).getDocumentElement();
    for (Element dependency : elements(child(child(bom, "dependencyManagement"), "dependencies"), "dependency")) {
      if ("dev.ferry".equals(text(dependency, "groupId").orElse(""))) {
        managed.add(text(dependency, "artifactId").orElseThrow());
      }
    }

    List<String> problems = new ArrayList<>();
    for (String a : published) {
      if (!managed.contains(a)) {
        problems.add(a + " is a published module but bom/pom.xml does not manage it (add it there, or set"
            + " <ferry.published>false</ferry.published> in its pom if it is not a library)");
      }
    }
    for (String a : managed) {
      if (!published.contains(a)) {
        problems.add(a + " is managed by bom/pom.xml but is " + (notPublished.contains(a)
            ? "not a published library (packaging pom, or ferry.published false)" : "no module of the root pom"));
      }
    }
    if (!problems.isEmpty()) {
      problems.forEach(p -> System.err.println("BOM check: " + p));
      System.exit(1);
    }
    System.out.println("BOM check: bom/pom.xml manages the " + published.size() + " published modules " + published
        + "; not published: " + notPublished);
  }

  private static Document parse(Path pom) throws Exception {
    if (!Files.isRegularFile(pom)) {
      throw new IllegalStateException("no " + pom);
    }
    return DocumentBuilderFactory.newDefaultInstance().newDocumentBuilder().parse(pom.toFile());
  }

  /** The text of each {@code leaf} under the direct child {@code parent} of {@code e}. */
  private static List<String> children(Element e, String parent, String leaf) {
    List<String> out = new ArrayList<>();
    Element p = child(e, parent);
    if (p != null) {
      elements(p, leaf).forEach(c -> out.add(c.getTextContent().trim()));
    }
    return out;
  }

  private static Optional<String> text(Element e, String name) {
    return Optional.ofNullable(child(e, name)).map(c -> c.getTextContent().trim());
  }

  private static Element child(Element e, String name) {
    if (e == null) {
      return null;
    }
    List<Element> all = elements(e, name);
    return all.isEmpty() ? null : all.get(0);
  }

  /** Direct children only: a module's own artifactId, not its parent's. */
  private static List<Element> elements(Element e, String name) {
    List<Element> out = new ArrayList<>();
    if (e == null) {
      return out;
    }
    for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element c && c.getTagName().equals(name)) {
        out.add(c);
      }
    }
    return out;
  }
}
