// PNG round trips through libpng; GIF files (written by giflib) parsed block by block and decoded
// with a reference LZW decoder written here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "report/media.h"

using namespace relmimic;
using namespace relmimic::report;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("relmimic_media_" + std::to_string(getpid()) + "_" + name))
      .string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// GIF LZW decoder after the GIF89a specification (appendix F): codes LSB first, the code width
// grows when the next free code reaches 2^width, a clear code resets the table.
std::vector<uint8_t> lzw_decode(const std::vector<uint8_t>& data, int min_bits) {
  const int clear = 1 << min_bits, eoi = clear + 1;
  std::vector<std::vector<uint8_t>> table;
  auto reset = [&] {
    table.clear();
    for (int i = 0; i < clear + 2; ++i) table.push_back({uint8_t(i)});
  };
  reset();
  int width = min_bits + 1, prev = -1;
  size_t bitpos = 0;
  std::vector<uint8_t> out;
  for (;;) {
    if (bitpos + size_t(width) > data.size() * 8) throw std::runtime_error("no end code");
    int code = 0;
    for (int b = 0; b < width; ++b, ++bitpos) code |= ((data[bitpos / 8] >> (bitpos % 8)) & 1) << b;
    if (code == clear) {
      reset();
      width = min_bits + 1;
      prev = -1;
      continue;
    }
    if (code == eoi) return out;
    std::vector<uint8_t> entry;
    if (code < int(table.size())) {
      entry = table[size_t(code)];
    } else if (code == int(table.size()) && prev >= 0) {
      entry = table[size_t(prev)];
      entry.push_back(entry[0]);
    } else {
      throw std::runtime_error("bad code " + std::to_string(code));
    }
    out.insert(out.end(), entry.begin(), entry.end());
    if (prev >= 0 && table.size() < 4096) {
      std::vector<uint8_t> e = table[size_t(prev)];
      e.push_back(entry[0]);
      table.push_back(e);
    }
    prev = code;
    if (int(table.size()) == (1 << width) && width < 12) ++width;
  }
}

struct Gif {
  int width = 0, height = 0, loop = -1;
  std::vector<int> delays;
  std::vector<std::vector<uint8_t>> frames;  // decoded indices
  bool gray_palette = true, trailer = false;
};

Gif parse_gif(const std::vector<uint8_t>& b) {
  Gif g;
  auto u16 = [&](size_t p) { return int(b.at(p)) | int(b.at(p + 1)) << 8; };
  if (std::string(b.begin(), b.begin() + 6) != "GIF89a") throw std::runtime_error("signature");
  g.width = u16(6);
  g.height = u16(8);
  size_t p = 13;
  if (b.at(10) & 0x80) {
    const int entries = 2 << (b[10] & 7);
    for (int i = 0; i < entries; ++i)
      for (int c = 0; c < 3; ++c) g.gray_palette &= b.at(p + 3 * size_t(i) + c) == i;
    p += 3 * size_t(entries);
  }
  auto sub_blocks = [&](size_t& q) {
    std::vector<uint8_t> data;
    while (b.at(q) != 0) {
      data.insert(data.end(), b.begin() + long(q) + 1, b.begin() + long(q) + 1 + b[q]);
      q += size_t(b[q]) + 1;
    }
    ++q;
    return data;
  };
  for (;;) {
    const uint8_t tag = b.at(p);
    if (tag == 0x3B) {
      g.trailer = p + 1 == b.size();
      return g;
    } else if (tag == 0x21) {
      const uint8_t label = b.at(p + 1);
      p += 2;
      std::vector<uint8_t> data = sub_blocks(p);
      if (label == 0xF9) g.delays.push_back(int(data.at(1)) | int(data.at(2)) << 8);
      if (label == 0xFF && data.size() == 14 &&
          std::string(data.begin(), data.begin() + 11) == "NETSCAPE2.0")
        g.loop = int(data[12]) | int(data[13]) << 8;
    } else if (tag == 0x2C) {
      if (u16(p + 5) != g.width || u16(p + 7) != g.height || (b.at(p + 9) & 0x80))
        throw std::runtime_error("frame descriptor");
      p += 10;
      const int min_bits = b.at(p++);
      g.frames.push_back(lzw_decode(sub_blocks(p), min_bits));
    } else {
      throw std::runtime_error("unknown block " + std::to_string(tag));
    }
  }
}

}  // namespace

TEST(Media, PngGrayAndRgbRoundTrip) {
  for (int channels : {1, 3}) {
    const int h = 17, w = 23;
    std::vector<uint8_t> px(size_t(h) * w * channels);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 + i / 7);
    const std::string path = temp_path("img" + std::to_string(channels) + ".png");
    write_png(path, px.data(), h, w, channels);
    std::vector<uint8_t> bytes = read_bytes(path);
    ASSERT_GE(bytes.size(), 8u);
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    EXPECT_TRUE(std::equal(sig, sig + 8, bytes.begin()));
    Image back = read_png(path);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, px);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    std::remove(path.c_str());
  }
}

TEST(Media, PngErrors) {
  uint8_t px[4] = {};
  EXPECT_THROW(write_png(temp_path("x.png"), px, 2, 2, 2), Error);
  EXPECT_THROW(write_png(temp_path("x.png"), px, 0, 2, 1), Error);
  // A folder that cannot be created: its parent is a regular file.
  const std::string file = temp_path("plain_file");
  std::ofstream(file) << "x";
  EXPECT_THROW(write_png(file + "/sub/x.png", px, 2, 2, 1), Error);
  // Missing folders are created.
  const std::string nested = temp_path("dir") + "/a/b/x.png";
  write_png(nested, px, 2, 2, 1);
  EXPECT_TRUE(std::filesystem::exists(nested));
  std::filesystem::remove_all(temp_path("dir"));
  const std::string not_png = temp_path("not.png");
  std::ofstream(not_png) << "GIF89a and more";
  EXPECT_THROW(read_png(not_png), Error);
  std::remove(not_png.c_str());
  std::remove(file.c_str());
}

TEST(Media, TileImagesLaysOutAGrid) {
  // Five 2x3 gray images of values 10..14 on 3 columns, 1-pixel gaps of 255.
  std::vector<uint8_t> imgs;
  for (int i = 0; i < 5; ++i) imgs.insert(imgs.end(), 6, uint8_t(10 + i));
  Image t = tile_images(imgs.data(), 5, 2, 3, 1, 3, 1, 255);
  ASSERT_EQ(t.height, 2 * 2 + 1);
  ASSERT_EQ(t.width, 3 * 3 + 2);
  auto at = [&](int y, int x) { return t.pixels[size_t(y) * t.width + x]; };
  EXPECT_EQ(at(0, 0), 10);
  EXPECT_EQ(at(1, 2), 10);
  EXPECT_EQ(at(0, 3), 255);  // gap column
  EXPECT_EQ(at(0, 4), 11);
  EXPECT_EQ(at(1, 10), 12);
  EXPECT_EQ(at(2, 0), 255);  // gap row
  EXPECT_EQ(at(3, 0), 13);
  EXPECT_EQ(at(4, 6), 14);
  EXPECT_EQ(at(4, 8), 255);  // the unused sixth cell
  EXPECT_THROW(tile_images(imgs.data(), 0, 2, 3, 1, 3, 1, 0), Error);
}

TEST(Media, GifFramesRoundTripUpToTableResets) {
  Rng rng(3);
  // Tiny, constant, smooth and incompressible frames; the random one fills the 4096-code table
  // many times over.
  struct Frame {
    int h, w;
    std::vector<uint8_t> px;
  };
  std::vector<Frame> inputs = {
      {1, 1, {7}}, {1, 2, {1, 1}}, {100, 100, {}}, {50, 100, {}}, {400, 500, {}}};
  inputs[2].px.assign(10000, 42);
  for (int i = 0; i < 5000; ++i) inputs[3].px.push_back(uint8_t(i / 40));
  for (int i = 0; i < 200000; ++i) inputs[4].px.push_back(uint8_t(rng.below(256)));
  std::vector<size_t> sizes;
  for (const Frame& in : inputs) {
    const std::string path = temp_path("frame.gif");
    write_gif(path, in.px.data(), 1, in.h, in.w, 4);
    const std::vector<uint8_t> bytes = read_bytes(path);
    sizes.push_back(bytes.size());
    const Gif g = parse_gif(bytes);
    ASSERT_EQ(g.frames.size(), 1u);
    EXPECT_EQ(g.frames[0], in.px) << "frame of " << in.px.size() << " bytes";
    std::remove(path.c_str());
  }
  // Runs compress: 10000 equal bytes take far fewer than 10000 bytes (with the 768-byte palette).
  EXPECT_LT(sizes[2], 1200u);
}

TEST(Media, GifHasHeaderFramesDelaysLoopAndTrailer) {
  const int h = 21, w = 30, n = 4;
  std::vector<uint8_t> frames(size_t(n) * h * w);
  for (int f = 0; f < n; ++f)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) frames[(size_t(f) * h + y) * w + x] = uint8_t(x * 8 + y + 50 * f);
  const std::string path = temp_path("anim.gif");
  write_gif(path, frames.data(), n, h, w, 7, 0);
  Gif g = parse_gif(read_bytes(path));
  EXPECT_EQ(g.width, w);
  EXPECT_EQ(g.height, h);
  EXPECT_TRUE(g.gray_palette);
  EXPECT_EQ(g.loop, 0);
  EXPECT_TRUE(g.trailer);
  ASSERT_EQ(g.frames.size(), size_t(n));
  EXPECT_EQ(g.delays, std::vector<int>(n, 7));
  for (int f = 0; f < n; ++f)
    EXPECT_TRUE(
        std::equal(g.frames[f].begin(), g.frames[f].end(), frames.begin() + long(f) * h * w) &&
        g.frames[f].size() == size_t(h) * w)
        << "frame " << f;
  std::remove(path.c_str());
}

TEST(Media, GifWriterStreamsAndRejectsBadArguments) {
  const std::string path = temp_path("stream.gif");
  {
    GifWriter g(path, 3, 2, 2, 5);
    const uint8_t a[6] = {0, 1, 2, 3, 4, 5}, b[6] = {255, 255, 0, 0, 9, 9};
    g.add_frame(a);
    g.add_frame(b);
    EXPECT_EQ(g.frames(), 2);
    EXPECT_FALSE(std::filesystem::exists(path));  // renamed into place on close
  }                                               // the destructor closes
  Gif parsed = parse_gif(read_bytes(path));
  EXPECT_EQ(parsed.frames.size(), 2u);
  EXPECT_EQ(parsed.loop, 5);
  EXPECT_EQ(parsed.frames[1], (std::vector<uint8_t>{255, 255, 0, 0, 9, 9}));
  std::remove(path.c_str());
  EXPECT_THROW(GifWriter(temp_path("bad.gif"), 0, 4, 2), Error);
  EXPECT_THROW(GifWriter(temp_path("bad.gif"), 4, 4, -1), Error);
  const std::string file = temp_path("plain_file_gif");
  std::ofstream(file) << "x";
  EXPECT_THROW(GifWriter(file + "/a.gif", 4, 4, 2), Error);
  std::remove(file.c_str());
  EXPECT_THROW(write_gif(temp_path("bad.gif"), nullptr, 0, 4, 4, 2), Error);
}
