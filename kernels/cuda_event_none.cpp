// The CUDA events of a build without the CUDA backend.
#ifndef RELMIMIC_WITH_CUDA
#include "kernels/common.h"
#include "kernels/cuda_event.h"

namespace relmimic::kernels {

Event cuda_event_create() {
  RM_FAIL("CUDA event timing requested, but relmimic was built without the CUDA backend");
}
void cuda_event_destroy(Event) {}
void cuda_event_record(Event, Stream) {
  RM_FAIL("CUDA event recorded, but relmimic was built without the CUDA backend");
}
float cuda_event_elapsed_ms(Event, Event) {
  RM_FAIL("CUDA event timing requested, but relmimic was built without the CUDA backend");
}

}  // namespace relmimic::kernels
#endif
