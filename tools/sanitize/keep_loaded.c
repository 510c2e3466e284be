/* Preloaded into the MPI ranks of the sanitizer build (tools/test-sanitize): dlclose does nothing,
 * so Open MPI's plugins (mca_*.so, and libpmix through them) stay mapped until the leak check at
 * exit. Otherwise MPI_Finalize unloads them and LeakSanitizer reports their leaks with
 * "<unknown module>" frames, which no suppression can name. */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
