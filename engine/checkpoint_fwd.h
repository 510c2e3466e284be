// Forward declarations of the checkpoint writer and reader (engine/checkpoint.h), for headers that
// only name them in save / load signatures.
#pragma once

namespace relmimic {
class CheckpointWriter;
class CheckpointReader;
}  // namespace relmimic
