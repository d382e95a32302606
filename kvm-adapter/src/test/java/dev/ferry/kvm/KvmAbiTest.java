package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The hand-written layout of {@code <linux/kvm.h>} in {@link KvmAbi} against the real header: a C
 * program (kvm_abi.c) compiled with gcc prints every size, offset, ioctl number and constant the
 * VMM uses; each must equal the Java value, and each Java value must be checked. Skipped, saying so,
 * when gcc or the kernel headers are missing.
 */
class KvmAbiTest {

  @Test
  void everyStructSizeOffsetAndIoctl_matchesLinuxKvmHeader() throws Exception {
    TestGuests.requireGcc();
    Path dir = Paths.get("target", "kvm-abi").toAbsolutePath();
    Files.createDirectories(dir);
    Path src = dir.resolve("kvm_abi.c");
    try (InputStream in = KvmAbiTest.class.getResourceAsStream("/kvm_abi.c")) {
      Files.write(src, in.readAllBytes());
    }
    Path exe = dir.resolve("kvm_abi");
    TestGuests.run(List.of("gcc", "-o", exe.toString(), src.toString()));
    Process p = new ProcessBuilder(exe.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as("kvm_abi output: %s", out).isZero();
    Map<String, Long> c = new LinkedHashMap<>();
    for (String line : out.split("\n")) {
      String[] kv = line.trim().split(" ");
      c.put(kv[0], Long.parseUnsignedLong(kv[1]));
    }
    Map<String, Long> java = KvmAbi.values();
    StringBuilder wrong = new StringBuilder();
    for (Map.Entry<String, Long> e : c.entrySet()) {
      Long j = java.get(e.getKey());
      if (j == null) {
        wrong.append("\n  ").append(e.getKey()).append(": C says ").append(e.getValue()).append(", Java has no value");
      } else if (j.longValue() != e.getValue().longValue()) {
        wrong.append("\n  ").append(e.getKey()).append(": C says ").append(e.getValue()).append(", Java says ").append(j);
      }
    }
    TreeSet<String> unchecked = new TreeSet<>(java.keySet());
    unchecked.removeAll(c.keySet());
    assertThat(wrong.toString()).as("KvmAbi disagrees with <linux/kvm.h>").isEmpty();
    assertThat(unchecked).as("Java values the C program does not check").isEmpty();
    assertThat(c).hasSizeGreaterThan(100);
  }
}
