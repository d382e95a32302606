/*
 * Ferry's test guest: a tiny multiboot kernel that dirties memory at a chosen rate and checks that
 * nothing it wrote was lost, reporting on serial port 0x3f8.
 *
 * Command line (multiboot): "mb=N rate=R" — a region of N MiB from 4 MiB up; R MiB/s of page writes
 * (0: none, heartbeat only). Every 4 KiB page holds a generation number in its first word and
 * gen ^ f(page) in its last. Each pass checks that every page still holds the previous generation
 * before writing the next: a page whose last write a migration failed to carry is caught.
 * Output: "FERRY-GUEST start mb=N rate=R", then "HB n=<count> gen=<generation>" each time the CMOS
 * clock's seconds change, and "CORRUPT page=P got=G/L want=W/X" on a mismatch.
 * Paging stays off (nested shadow-paging KVM runs such guests; see notes).
 */
typedef unsigned int u32;
typedef unsigned long long u64;

#define REGION_BASE 0x400000u
#define PAGE_WORDS 1024u

static inline void outb(unsigned short port, unsigned char v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline unsigned char inb(unsigned short port) { unsigned char v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }

static void putc(char c) {
  for (int i = 0; i < 100000 && !(inb(0x3fd) & 0x20); i++) { }
  outb(0x3f8, (unsigned char)c);
}
static void puts(const char *s) { while (*s) putc(*s++); }
static void putu(u32 v) {
  char b[11]; int i = 0;
  do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (i) putc(b[--i]);
}
static void putx(u32 v) {
  puts("0x");
  for (int s = 28; s >= 0; s -= 4) putc("0123456789abcdef"[(v >> s) & 15]);
}

/* 64-by-32 division without libgcc. */
static u64 udiv64(u64 n, u32 d) {
  u64 q = 0, r = 0;
  for (int i = 63; i >= 0; i--) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) { r -= d; q |= (u64)1 << i; }
  }
  return q;
}

static u32 parse(const char *cmd, const char *key, u32 dflt) {
  if (!cmd) return dflt;
  for (const char *p = cmd; *p; p++) {
    const char *k = key, *q = p;
    while (*k && *q == *k) { k++; q++; }
    if (!*k && (p == cmd || p[-1] == ' ')) {
      u32 v = 0; int any = 0;
      while (*q >= '0' && *q <= '9') { v = v * 10 + (u32)(*q - '0'); q++; any = 1; }
      return any ? v : dflt;
    }
  }
  return dflt;
}

static unsigned char cmos_seconds(void) {
  for (int i = 0; i < 1000; i++) {
    outb(0x70, 0x0a);
    if (!(inb(0x71) & 0x80)) break;
  }
  outb(0x70, 0x00);
  return inb(0x71);
}

/* TSC ticks per second, against PIT channel 2 (1.193182 MHz), over 0xffff counts (~55 ms). */
static u64 tsc_hz(void) {
  outb(0x61, (unsigned char)((inb(0x61) & ~0x02) | 0x01));
  outb(0x43, 0xb0);
  outb(0x42, 0xff);
  outb(0x42, 0xff);
  u64 t0 = rdtsc();
  for (u32 i = 0; i < 200000000u && !(inb(0x61) & 0x20); i++) { }
  u64 t1 = rdtsc();
  return udiv64((t1 - t0) * 1193182ull, 0xffff);
}

static u32 f(u32 page) { return page * 2654435761u + 0x9e3779b9u; }

static u32 hb;
static u32 gen;
static unsigned char last_sec = 0xff;

static void heartbeat(void) {
  unsigned char s = cmos_seconds();
  if (s != last_sec) {
    last_sec = s;
    hb++;
    puts("HB n="); putu(hb); puts(" gen="); putu(gen); putc('\n');
  }
}

void kmain(u32 magic, u32 *info) {
  const char *cmd = 0;
  if (magic == 0x2BADB002u && (info[0] & 4)) cmd = (const char *)info[4];
  u32 mb = parse(cmd, "mb=", 16);
  u32 rate = parse(cmd, "rate=", 0);
  u32 pages = mb * 256u;
  puts("FERRY-GUEST start mb="); putu(mb); puts(" rate="); putu(rate); putc('\n');
  u64 hz = tsc_hz();
  puts("FERRY-GUEST tsc_hz="); putu((u32)udiv64(hz, 1000)); puts("k\n");
  volatile u32 *base = (volatile u32 *)REGION_BASE;
  u64 per_page = rate ? udiv64(hz, rate * 256u) : 0;
  u64 next = rdtsc();
  u32 corrupt = 0;
  for (;;) {
    if (!rate) { heartbeat(); continue; }
    gen++;
    for (u32 p = 0; p < pages; p++) {
      volatile u32 *w = base + p * PAGE_WORDS;
      if (gen > 1) {
        u32 a = w[0], b = w[PAGE_WORDS - 1];
        u32 want = gen - 1;
        if (a != want || b != (want ^ f(p))) {
          corrupt++;
          puts("CORRUPT page="); putu(p); puts(" got="); putx(a); putc('/'); putx(b);
          puts(" want="); putx(want); putc('/'); putx(want ^ f(p)); putc('\n');
        }
      }
      w[0] = gen;
      w[PAGE_WORDS - 1] = gen ^ f(p);
      next += per_page;
      if ((p & 63) == 0) heartbeat();
      while (rdtsc() < next) heartbeat();
    }
  }
}
