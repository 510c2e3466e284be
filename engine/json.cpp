#include "engine/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/files.h"

namespace relmimic::json {

const char* type_name(Type t) {
  switch (t) {
    case Type::Null:
      return "null";
    case Type::Bool:
      return "bool";
    case Type::Number:
      return "number";
    case Type::String:
      return "string";
    case Type::Array:
      return "array";
    case Type::Object:
      return "object";
  }
  return "?";
}

// ---- Value -----------------------------------------------------------------------------------

namespace {
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

[[noreturn]] void type_mismatch(Type want, Type got) {
  RM_FAIL("JSON: expected a ", type_name(want), ", got a ", type_name(got));
}
}  // namespace

bool Value::is_integer() const {
  if (!is_number()) return false;
  const double x = std::get<double>(v_);
  return std::fabs(x) <= kMaxExactInteger && x == std::trunc(x);
}

bool Value::as_bool() const {
  if (!is_bool()) type_mismatch(Type::Bool, type());
  return std::get<bool>(v_);
}
double Value::as_number() const {
  if (!is_number()) type_mismatch(Type::Number, type());
  return std::get<double>(v_);
}
long Value::as_long() const {
  const double x = as_number();
  RM_CHECK(is_integer(), "JSON: expected an integer, got ", x);
  return long(x);
}
const std::string& Value::as_string() const {
  if (!is_string()) type_mismatch(Type::String, type());
  return std::get<std::string>(v_);
}
const Array& Value::as_array() const {
  if (!is_array()) type_mismatch(Type::Array, type());
  return std::get<Array>(v_);
}
Array& Value::as_array() {
  if (!is_array()) type_mismatch(Type::Array, type());
  return std::get<Array>(v_);
}
const Object& Value::as_object() const {
  if (!is_object()) type_mismatch(Type::Object, type());
  return std::get<Object>(v_);
}
Object& Value::as_object() {
  if (!is_object()) type_mismatch(Type::Object, type());
  return std::get<Object>(v_);
}

const Value* Value::find(std::string_view key) const {
  for (const Member& m : as_object())
    if (m.first == key) return &m.second;
  return nullptr;
}
Value* Value::find(std::string_view key) {
  for (Member& m : as_object())
    if (m.first == key) return &m.second;
  return nullptr;
}
const Value& Value::at(std::string_view key) const {
  const Value* v = find(key);
  RM_CHECK(v != nullptr, "JSON: missing key '", key, "'");
  return *v;
}
Value& Value::set(std::string key, Value v) {
  if (Value* old = find(key)) return *old = std::move(v);
  Object& o = as_object();
  o.emplace_back(std::move(key), std::move(v));
  return o.back().second;
}

size_t Value::size() const {
  if (is_array()) return as_array().size();
  if (is_object()) return as_object().size();
  RM_FAIL("JSON: size() of a ", type_name(type()), " (only arrays and objects have one)");
}

bool Value::operator==(const Value& o) const {
  if (type() != o.type()) return false;
  if (!is_object()) return v_ == o.v_;
  const Object& a = as_object();
  if (a.size() != o.as_object().size()) return false;
  for (const Member& m : a) {
    const Value* other = o.find(m.first);
    if (!other || !(m.second == *other)) return false;
  }
  return true;
}

// ---- Parser ----------------------------------------------------------------------------------

namespace {

std::string position_prefix(const std::string& source, int line, int column) {
  std::ostringstream os;
  os << source << ":" << line << ":" << column << ": ";
  return os.str();
}

}  // namespace

ParseError::ParseError(const std::string& source, int line, int column, const std::string& message)
    : Error(position_prefix(source, line, column) + message), line_(line), column_(column) {}

namespace {

constexpr int kMaxDepth = 256;

// "'x'", "end of input" or "byte 0xNN" for error messages.
std::string describe_char(std::string_view text, size_t pos) {
  if (pos >= text.size()) return "end of input";
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
  std::ostringstream os;
  os << "byte 0x" << std::hex << int(c);
  return os.str();
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (p_ < s_.size()) fail("unexpected " + describe_char(s_, p_) + " after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { fail_at(p_, msg); }

  // Line and column of byte offset pos: columns count UTF-8 lead bytes (characters).
  [[noreturn]] void fail_at(size_t pos, const std::string& msg) const {
    int line = 1, column = 1;
    for (size_t i = 0; i < pos && i < s_.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s_[i]);
      if (c == '\n') {
        ++line;
        column = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++column;
      }
    }
    throw ParseError(source_, line, column, msg);
  }

  void skip_ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
  }

  bool at_end() const { return p_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[p_]; }

  void expect_literal(std::string_view word) {
    const size_t start = p_;
    for (char c : word) {
      if (peek() != c) fail_at(start, "invalid literal (expected '" + std::string(word) + "')");
      ++p_;
    }
  }

  Value value(int depth) {
    if (at_end()) fail("expected a JSON value, got end of input");
    switch (peek()) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return Value(string());
      case 't':
        expect_literal("true");
        return Value(true);
      case 'f':
        expect_literal("false");
        return Value(false);
      case 'n':
        expect_literal("null");
        return Value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return Value(number());
        fail("expected a JSON value, got " + describe_char(s_, p_));
    }
  }

  void check_depth(int depth) const {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  Value object(int depth) {
    check_depth(depth);
    ++p_;  // '{'
    Value obj = Value::object();
    skip_ws();
    if (peek() == '}') {
      ++p_;
      return obj;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key, got " + describe_char(s_, p_));
      const size_t key_pos = p_;
      std::string key = string();
      if (obj.contains(key)) fail_at(key_pos, "duplicate key \"" + key + "\"");
      skip_ws();
      if (peek() != ':') fail("expected ':' after the key, got " + describe_char(s_, p_));
      ++p_;
      skip_ws();
      obj.as_object().emplace_back(std::move(key), value(depth));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == '}') {
        ++p_;
        return obj;
      }
      fail("expected ',' or '}' after an object member, got " + describe_char(s_, p_));
    }
  }

  Value array(int depth) {
    check_depth(depth);
    ++p_;  // '['
    Value arr = Value::array();
    skip_ws();
    if (peek() == ']') {
      ++p_;
      return arr;
    }
    for (;;) {
      skip_ws();
      arr.push_back(value(depth));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == ']') {
        ++p_;
        return arr;
      }
      fail("expected ',' or ']' after an array element, got " + describe_char(s_, p_));
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  double number() {
    const size_t start = p_;
    auto digits = [&](const char* what) {
      if (!(peek() >= '0' && peek() <= '9'))
        fail(std::string("expected a digit ") + what + ", got " + describe_char(s_, p_));
      while (peek() >= '0' && peek() <= '9') ++p_;
    };
    if (peek() == '-') ++p_;
    if (peek() == '0') {
      ++p_;
      if (peek() >= '0' && peek() <= '9') fail("leading zeros are not allowed in numbers");
    } else {
      digits("in the number");
    }
    if (peek() == '.') {
      ++p_;
      digits("after the decimal point");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      digits("in the exponent");
    }
    double x = 0;
    const auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + p_, x);
    if (ec == std::errc::result_out_of_range) {
      // from_chars leaves x unset here; strtod tells overflow (inf) from underflow (tiny or 0),
      // and underflow is harmless.
      const std::string text(s_.substr(start, p_ - start));
      x = std::strtod(text.c_str(), nullptr);
      if (std::isinf(x)) fail_at(start, "number out of the range of a double");
      return x;
    }
    if (ec != std::errc() || end != s_.data() + p_) fail_at(start, "malformed number");
    return x;
  }

  unsigned hex4() {
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      unsigned d;
      if (c >= '0' && c <= '9')
        d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = unsigned(c - 'A' + 10);
      else
        fail("expected 4 hex digits after \\u, got " + describe_char(s_, p_));
      u = u * 16 + d;
      ++p_;
    }
    return u;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  // One raw UTF-8 sequence starting at p_ (lead byte >= 0x80), validated (no overlongs, no
  // surrogates, at most U+10FFFF) and copied.
  void utf8_sequence(std::string& out) {
    const unsigned char c = static_cast<unsigned char>(s_[p_]);
    int n;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0)
      n = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      n = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      n = 3, cp = c & 0x07, min = 0x10000;
    else
      fail("invalid UTF-8 in string");
    for (int i = 1; i <= n; ++i) {
      if (p_ + i >= s_.size() || (static_cast<unsigned char>(s_[p_ + i]) & 0xC0) != 0x80)
        fail("invalid UTF-8 in string");
      cp = (cp << 6) | (static_cast<unsigned char>(s_[p_ + i]) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      fail("invalid UTF-8 in string");
    out.append(s_.substr(p_, size_t(n) + 1));
    p_ += size_t(n) + 1;
  }

  std::string string() {
    const size_t start = p_;
    ++p_;  // '"'
    std::string out;
    for (;;) {
      if (at_end()) fail_at(start, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[p_]);
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) fail("control character in string (escape it)");
      if (c >= 0x80) {
        utf8_sequence(out);
        continue;
      }
      if (c != '\\') {
        out += char(c);
        ++p_;
        continue;
      }
      ++p_;  // backslash
      if (at_end()) fail_at(start, "unterminated string");
      const char e = s_[p_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (peek() != '\\' || p_ + 1 >= s_.size() || s_[p_ + 1] != 'u')
              fail("high surrogate not followed by a \\u low surrogate");
            p_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --p_;
          fail("invalid escape '\\' followed by " + describe_char(s_, p_));
      }
    }
  }

  std::string_view s_;
  const std::string& source_;
  size_t p_ = 0;
};

}  // namespace

Value parse(std::string_view text, const std::string& source) {
  return Parser(text, source).document();
}

Value parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RM_CHECK(in.good(), "cannot open JSON file '", path, "'");
  std::ostringstream os;
  os << in.rdbuf();
  RM_CHECK(!in.bad(), "cannot read JSON file '", path, "'");
  return parse(os.str(), path);
}

// ---- Serializer ------------------------------------------------------------------------------

namespace {

void write_number(std::string& out, double x) {
  RM_CHECK(std::isfinite(x), "JSON: cannot write the non-finite number ", x);
  char buf[64];
  // Shortest digits that parse back to x, positioned as Python's repr does: plain notation for
  // integers and for 1e-5 <= |x| < 1e16 (0.0001, not 1e-04), exponent notation beyond.
  const double a = std::fabs(x);
  const bool plain = (x == std::trunc(x) && a < 1e17) || (a >= 1e-5 && a < 1e16);
  const std::to_chars_result r = std::to_chars(
      buf, buf + sizeof buf, x, plain ? std::chars_format::fixed : std::chars_format::scientific);
  RM_CHECK(r.ec == std::errc(), "JSON: cannot format the number ", x);
  out.append(buf, r.ptr);
}

void write_string(std::string& out, const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void newline(std::string& out, int indent, int level) {
  if (indent <= 0) return;
  out += '\n';
  out.append(size_t(indent) * size_t(level), ' ');
}

void write_value(std::string& out, const Value& v, int indent, int level) {
  switch (v.type()) {
    case Type::Null:
      out += "null";
      return;
    case Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Type::Number:
      write_number(out, v.as_number());
      return;
    case Type::String:
      write_string(out, v.as_string());
      return;
    case Type::Array: {
      const Array& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        write_value(out, a[i], indent, level + 1);
      }
      newline(out, indent, level);
      out += ']';
      return;
    }
    case Type::Object: {
      const Object& o = v.as_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (size_t i = 0; i < o.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        write_string(out, o[i].first);
        out += indent > 0 ? ": " : ":";
        write_value(out, o[i].second, indent, level + 1);
      }
      newline(out, indent, level);
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string dump(const Value& v, int indent) {
  RM_CHECK(indent >= 0, "JSON: indent must be non-negative, got ", indent);
  std::string out;
  write_value(out, v, indent, 0);
  return out;
}

void write_file(const std::string& path, const Value& v, int indent) {
  write_file_atomically(path, dump(v, indent) + "\n");
}

}  // namespace relmimic::json
