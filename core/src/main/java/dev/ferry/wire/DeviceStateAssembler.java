package dev.ferry.wire;

import java.nio.ByteBuffer;

/**
 * Reassembles a device state from DEVICE_STATE chunks on the receiver. Chunks travel in order on
 * the control stream, so each must start where the previous ended and announce the same total; the
 * total is checked against a bound before the buffer for it is allocated.
 *
 * <p>Not thread-safe; one per session.
 */
public final class DeviceStateAssembler {
  private final int maxTotal;
  private ByteBuffer state;
  private int total = -1;

  /** @param maxTotal the largest device state accepted, in bytes */
  public DeviceStateAssembler(int maxTotal) {
    if (maxTotal < 0) {
      throw new IllegalArgumentException("max device state must not be negative: " + maxTotal);
    }
    this.maxTotal = maxTotal;
  }

  /** An assembler bounded by {@link WireFormat#DEFAULT_MAX_DEVICE_STATE}. */
  public DeviceStateAssembler() {
    this(WireFormat.DEFAULT_MAX_DEVICE_STATE);
  }

  /**
   * Adds a chunk (copied).
   *
   * @return true when the device state is complete
   * @throws ProtocolException when the chunk is out of order, inconsistent, too large, or comes after
   *     the state was complete
   */
  public boolean accept(Message.DeviceStateChunk chunk) throws ProtocolException {
    if (total < 0) {
      if (chunk.totalLength() > maxTotal) {
        throw new ProtocolException("device state of " + chunk.totalLength() + " bytes exceeds the limit of "
            + maxTotal + " bytes");
      }
      total = chunk.totalLength();
      state = ByteBuffer.allocate(total);
    } else if (chunk.totalLength() != total) {
      throw new ProtocolException("device state chunk announces " + chunk.totalLength()
          + " bytes in total, earlier chunks " + total);
    } else if (isComplete()) {
      throw new ProtocolException("device state chunk after the state was complete");
    }
    if (chunk.offset() != state.position()) {
      throw new ProtocolException("device state chunk at offset " + chunk.offset() + ", expected "
          + state.position());
    }
    ByteBuffer data = chunk.data().duplicate();
    if (data.remaining() > state.remaining()) {
      throw new ProtocolException("device state chunk runs past the total length " + total);
    }
    if (data.remaining() == 0 && total > 0) {
      throw new ProtocolException("empty device state chunk at offset " + chunk.offset());
    }
    state.put(data);
    return isComplete();
  }

  /** Whether every byte arrived. */
  public boolean isComplete() {
    return total >= 0 && !state.hasRemaining();
  }

  /**
   * The assembled state (read-only, position 0).
   *
   * @throws IllegalStateException when it is not complete
   */
  public ByteBuffer result() {
    if (!isComplete()) {
      throw new IllegalStateException("device state incomplete: " + (state == null ? 0 : state.position())
          + " of " + Math.max(total, 0) + " bytes");
    }
    return state.duplicate().flip().asReadOnlyBuffer();
  }
}
