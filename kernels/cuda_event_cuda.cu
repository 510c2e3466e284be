// CUDA events (runtime calls, no kernels).
#include "kernels/cuda_check.h"
#include "kernels/cuda_event.h"

namespace relmimic::kernels {

Event cuda_event_create() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreate(&e));
  return e;
}

void cuda_event_destroy(Event e) {
  if (e) cudaEventDestroy(e);  // at teardown: nothing useful to do with an error
}

void cuda_event_record(Event e, Stream stream) {
  RM_CHECK(e, "cuda_event_record: null event");
  CUDA_CHECK(cudaEventRecord(e, stream));
}

float cuda_event_elapsed_ms(Event start, Event stop) {
  RM_CHECK(start && stop, "cuda_event_elapsed_ms: null event");
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return ms;
}

}  // namespace relmimic::kernels
