// CUDA events for timing regions on a stream without synchronising while they are recorded.
// Declared for every build; without the CUDA backend every call throws.
#pragma once

#include "kernels/cuda_types.h"

// cudaEvent_t is `struct CUevent_st*` in the CUDA runtime.
struct CUevent_st;

namespace relmimic::kernels {

using Event = CUevent_st*;

// A timing event on the current device.
Event cuda_event_create();
void cuda_event_destroy(Event e);  // never throws; null is ignored
void cuda_event_record(Event e, Stream stream);
// Milliseconds between two recorded events; waits for `stop` to complete.
float cuda_event_elapsed_ms(Event start, Event stop);

}  // namespace relmimic::kernels
