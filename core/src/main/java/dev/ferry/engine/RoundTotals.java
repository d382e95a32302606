package dev.ferry.engine;

/** What the streams sent in one round, added up. Confined to one thread at a time. */
final class RoundTotals {
  long pages;
  long zeroPages;
  long wireBytes;

  void add(RoundTotals o) {
    pages += o.pages;
    zeroPages += o.zeroPages;
    wireBytes += o.wireBytes;
  }
}
