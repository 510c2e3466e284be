// A small, strict JSON value (RFC 8259): null, bool, number (double), string (UTF-8), array and
// object. Objects keep their members in insertion order, so a written file reads like the code
// that built it; duplicate keys are rejected on parse. Errors name "source:line:column".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kernels/common.h"

namespace relmimic::json {

enum class Type { Null, Bool, Number, String, Array, Object };
const char* type_name(Type t);  // "null", "bool", "number", "string", "array", "object"

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int x) : v_(double(x)) {}
  Value(long x) : v_(double(x)) {}
  Value(double x) : v_(x) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}
  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const { return Type(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  // A number with an integral value that a double holds exactly (|x| <= 2^53).
  bool is_integer() const;

  // Typed access; throws "expected a <type>, got a <type>" on a mismatch.
  bool as_bool() const;
  double as_number() const;
  long as_long() const;  // is_integer() required
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Objects: lookup (null when absent), checked lookup, insert-or-replace (keeps the position of
  // an existing key, appends a new one).
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const;
  Value& set(std::string key, Value v);

  // Arrays.
  void push_back(Value v) { as_array().push_back(std::move(v)); }
  const Value& operator[](size_t i) const { return as_array().at(i); }
  // Number of elements of an array or members of an object.
  size_t size() const;

  // Deep equality; objects compare as sets of members (order does not matter), numbers by value.
  bool operator==(const Value& o) const;

 private:
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v_;
};

// A parse failure: what() is "<source>:<line>:<column>: <message>" (both 1-based, columns count
// characters, not bytes).
class ParseError : public Error {
 public:
  ParseError(const std::string& source, int line, int column, const std::string& message);
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  int line_, column_;
};

// The whole text must be one JSON value (surrounding whitespace allowed). Nesting is limited to
// 256 levels.
Value parse(std::string_view text, const std::string& source = "<json>");
// Reads and parses a file; errors name the path.
Value parse_file(const std::string& path);

// indent > 0: one member or element per line, nested levels indented by `indent` spaces;
// indent == 0: one line without spaces. Numbers print in the shortest form that parses back to
// the same double (integers without exponent); NaN and infinities throw.
std::string dump(const Value& v, int indent = 2);
// Writes dump(v) plus a newline atomically (engine/files.h); throws naming the path when it
// cannot.
void write_file(const std::string& path, const Value& v, int indent = 2);

}  // namespace relmimic::json
