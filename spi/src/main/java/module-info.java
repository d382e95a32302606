/**
 * Ferry's backend contract: what a hypervisor backend implements ({@link
 * dev.ferry.spi.HypervisorProvider}, found by {@link java.util.ServiceLoader}) and the value types
 * that backends and the API share. Depends on nothing but {@code java.base}.
 */
module dev.ferry.spi {
  exports dev.ferry.spi;
}
