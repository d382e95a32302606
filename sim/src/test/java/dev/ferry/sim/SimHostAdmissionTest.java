package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import java.nio.ByteBuffer;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a sim host admits: its declared budget, and what the machine can really give now. */
class SimHostAdmissionTest {
  private static final int PAGE = 4096;

  @AfterEach
  void cleanUp() {
    SimHost.destroyAll();
  }

  @Test
  void defaultHost_declaresThePhysicalMemoryOfThisMachine() {
    assertThat(SimHost.named("plain").info().memory().bytes()).isEqualTo(MachineMemory.total());
  }

  @Test
  void prepareIncoming_moreWrittenMemoryThanTheMachineCanGive_isRefusedNamingBothFigures() {
    SimHost h = SimHost.named("short");
    h.faults().machineMemoryAvailable(DataSize.gib(2));
    IncomingRequest r = new IncomingRequest(vm("web-1", DataSize.gib(4)), DataSize.gib(3));
    assertThatThrownBy(() -> h.prepareIncoming(r))
        .isInstanceOf(DriverException.class)
        .hasMessageContaining("cannot hold VM web-1")
        .hasMessageContaining("receive 3 GiB of written memory")
        .hasMessageContaining("this machine can give ")
        .hasMessageContaining("available 2 GiB");
    assertThat(h.incomingVms()).as("nothing was prepared").isEmpty();
    assertThat(h.committedMemory().bytes()).isZero();
  }

  @Test
  void prepareIncoming_sparseVmLargerThanTheMachine_isAdmittedForWhatWasWritten() {
    SimHost h = SimHost.named("big", DataSize.gib(128), SimHost.DEFAULT_CPU);
    h.faults().machineMemoryAvailable(DataSize.gib(2));
    SimIncomingVm in = h.prepareIncoming(new IncomingRequest(vm("sparse", DataSize.gib(64)), DataSize.gib(1)));
    assertThat(in.guestMemory().allocatedBytes()).isZero();
    in.discard();
  }

  @Test
  void prepareIncoming_whatOtherIncomingVmsWerePromised_countsUntilTheyWriteIt() {
    SimHost a = SimHost.named("dest-a");
    SimHost b = SimHost.named("dest-b");
    a.faults().machineMemoryAvailable(DataSize.gib(3));
    b.faults().machineMemoryAvailable(DataSize.gib(3));
    SimIncomingVm first = a.prepareIncoming(new IncomingRequest(vm("one", DataSize.gib(2)), DataSize.gib(2)));
    IncomingRequest second = new IncomingRequest(vm("two", DataSize.gib(1)), DataSize.gib(1));
    assertThatThrownBy(() -> b.prepareIncoming(second))
        .isInstanceOf(DriverException.class)
        .hasMessageContaining("2 GiB promised to other incoming VMs");
    // Once the first has received what it was promised, it is in the machine's figure, not a promise.
    ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
    for (long p = 0; p < first.guestMemory().pageCount(); p += SimMemory.CHUNK_SIZE / PAGE) {
      page.clear();
      first.memory().writePage(p, page);
    }
    assertThat(first.promisedNotWritten()).isZero();
    assertThat(b.prepareIncoming(second).description().name()).isEqualTo("two");
  }

  @Test
  void prepareIncoming_budgetOfFullSizes_refusesNamingTheHostsMemoryAndTheVms() {
    SimHost h = SimHost.named("small", DataSize.gib(2), SimHost.DEFAULT_CPU);
    IncomingRequest r = new IncomingRequest(vm("web-2", DataSize.gib(4)), DataSize.mib(16));
    assertThatThrownBy(() -> h.prepareIncoming(r))
        .isInstanceOf(DriverException.class)
        .hasMessageContaining("has 2 GiB of memory")
        .hasMessageContaining("VM web-2 of 4 GiB");
  }

  private static VmDescription vm(String name, DataSize memory) {
    return new VmDescription(new VmId(UUID.randomUUID().toString()), name, memory, PAGE, 1, SimHost.DEFAULT_CPU);
  }
}
