// The agent-next-to-another-policy video of `relmimic eval --gif ... --beside`: two gray videos
// side by side under captions drawn with the charts' bitmap font.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace relmimic::report {

// Two gray videos [n, size, size] next to each other, each under a caption (white 5x7 text on
// black; scale 2 from size 96 up when both captions fit), 4 black pixels apart. Frame i shows frame
// min(i, n - 1) of each video: the shorter one holds its last frame. Result [max(nl, nr), H, W]
// with H = size + caption height, W = 2 size + 4; nl, nr >= 1.
struct GrayVideo {
  std::vector<uint8_t> frames;
  int n = 0, height = 0, width = 0;
};
GrayVideo side_by_side(const uint8_t* left, int nl, const uint8_t* right, int nr, int size,
                       const std::string& left_caption, const std::string& right_caption);

}  // namespace relmimic::report
