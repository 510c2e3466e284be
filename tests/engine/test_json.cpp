// JSON value, parser and serializer: round trips, exact output format, strictness and the
// line:column of every kind of parse error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "engine/json.h"

namespace relmimic {
namespace {

using json::Value;

Value sample() {
  Value v = Value::object();
  v.set("name", "walker2d");
  v.set("flag", true);
  v.set("nothing", nullptr);
  Value nums = Value::array();
  for (double x : {0.0, -0.0, 1.0, -7.0, 0.1, 0.1 + 0.2, 1e-4, 3e-300, 1.7976931348623157e308, 1e6,
                   1e21, 123456789012345.0, -2.5e-8, M_PI})
    nums.push_back(x);
  v.set("numbers", nums);
  Value nested = Value::object();
  nested.set("text",
             "quote \" backslash \\ newline \n tab \t bell \x07 e\xC3\xA9 \xF0\x9F\x98\x80");
  nested.set("empty_array", Value::array());
  nested.set("empty_object", Value::object());
  Value inner = Value::array();
  inner.push_back(Value::array());
  inner.push_back(Value(Value::object()));
  nested.set("deep", inner);
  v.set("nested", nested);
  return v;
}

TEST(Json, RoundTripsPrettyAndCompact) {
  const Value v = sample();
  for (int indent : {0, 2, 4}) {
    const std::string text = json::dump(v, indent);
    const Value back = json::parse(text);
    EXPECT_TRUE(back == v) << "indent " << indent << ":\n" << text;
    EXPECT_EQ(json::dump(back, indent), text);
  }
  // Doubles come back bit for bit (shortest round-trip form).
  const Value back = json::parse(json::dump(v));
  const json::Array& a = v.at("numbers").as_array();
  const json::Array& b = back.at("numbers").as_array();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].as_number(), b[i].as_number()) << i;
  EXPECT_TRUE(std::signbit(b[1].as_number()));  // -0 keeps its sign
}

TEST(Json, PrettyFormatKeepsInsertionOrder) {
  Value v = Value::object();
  v.set("z", 1);
  v.set("a", Value::array());
  Value arr = Value::array();
  arr.push_back(1e6);
  arr.push_back("x");
  v.set("m", arr);
  v.set("e", Value::object());
  v.set("z", 2.5);  // replacing keeps the position
  EXPECT_EQ(json::dump(v),
            "{\n  \"z\": 2.5,\n  \"a\": [],\n  \"m\": [\n    1000000,\n    \"x\"\n  ],\n"
            "  \"e\": {}\n}");
  EXPECT_EQ(json::dump(v, 0), R"({"z":2.5,"a":[],"m":[1000000,"x"],"e":{}})");
}

TEST(Json, NumberSpelling) {
  const std::pair<double, const char*> cases[] = {{1e6, "1000000"},
                                                  {-7, "-7"},
                                                  {1e-4, "0.0001"},
                                                  {3e-4, "0.0003"},
                                                  {0.1 + 0.2, "0.30000000000000004"},
                                                  {1e-300, "1e-300"},
                                                  {2.5e-8, "2.5e-08"},
                                                  {1e21, "1e+21"},
                                                  {-0.0, "-0"},
                                                  {123456789012345.0, "123456789012345"}};
  for (const auto& [x, text] : cases) EXPECT_EQ(json::dump(Value(x)), text);
}

TEST(Json, ParsesEscapesAndUnicode) {
  const Value v = json::parse(R"(  {"s": "a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00"}  )");
  EXPECT_EQ(v.at("s").as_string(),
            "a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xF0\x9F\x98\x80");  // A, e-acute, U+1F600
  EXPECT_EQ(json::parse("[-0.5e+2, 1E-2, 0, true, false, null]"),
            json::parse("[-50, 0.01, 0, true, false, null]"));
  EXPECT_EQ(json::dump(json::parse("\"\\u0001\"")), "\"\\u0001\"");
}

TEST(Json, AccessorsAndEquality) {
  Value v = json::parse(R"({"a": 1, "b": [1, 2], "c": {"x": true, "y": null}})");
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v.at("a").as_long(), 1);
  EXPECT_TRUE(v.at("a").is_integer());
  EXPECT_EQ(v.at("b")[1].as_number(), 2.0);
  EXPECT_TRUE(v.at("c").at("y").is_null());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_THROW(v.at("missing"), Error);
  EXPECT_THROW(v.at("a").as_string(), Error);
  EXPECT_THROW(v.at("b").at("x"), Error);
  EXPECT_THROW(json::parse("1.5").as_long(), Error);
  EXPECT_THROW(json::parse("1").size(), Error);
  // Objects compare as sets of members; arrays in order; types strictly.
  EXPECT_EQ(json::parse(R"({"p": 1, "q": [2, 3]})"), json::parse(R"({"q": [2, 3], "p": 1})"));
  EXPECT_FALSE(json::parse("[2, 3]") == json::parse("[3, 2]"));
  EXPECT_FALSE(json::parse("1") == json::parse("true"));
  EXPECT_FALSE(json::parse(R"({"p": 1})") == json::parse(R"({"p": 1, "q": 2})"));
}

struct BadCase {
  const char* text;
  int line, column;
  const char* message;  // a substring of what()
};

TEST(Json, ReportsErrorPositions) {
  const BadCase cases[] = {
      {"{\n  \"a\": 1,\n  \"b\": tru\n}", 3, 8, "invalid literal"},
      {"[1, 2,]", 1, 7, "expected a JSON value, got ']'"},
      {"{\"a\": 1 \"b\": 2}", 1, 9, "expected ',' or '}'"},
      {"{\"a\": 1,}", 1, 9, "expected a string key"},
      {"{\"a\":1,\"a\":2}", 1, 8, "duplicate key \"a\""},
      {"{\"a\" 1}", 1, 6, "expected ':'"},
      {"[1 2]", 1, 4, "expected ',' or ']'"},
      {"01", 1, 2, "leading zeros"},
      {"-", 1, 2, "expected a digit"},
      {"1.", 1, 3, "after the decimal point"},
      {"1e+", 1, 4, "in the exponent"},
      {"1e400", 1, 1, "out of the range"},
      {"\"abc", 1, 1, "unterminated string"},
      {"\"a\tb\"", 1, 3, "control character"},
      {"\"\\x\"", 1, 3, "invalid escape"},
      {"\"\\ud800\"", 1, 8, "high surrogate"},
      {"\"\\udc00\"", 1, 8, "unpaired low surrogate"},
      {"\"\\u12g4\"", 1, 6, "hex digits"},
      {"\"\xff\"", 1, 2, "invalid UTF-8"},
      {"\"\xC0\x80\"", 1, 2, "invalid UTF-8"},                        // overlong NUL
      {"{\"\xC3\xA9\": x}", 1, 7, "expected a JSON value, got 'x'"},  // columns count characters
      {"1 2", 1, 3, "after the JSON value"},
      {"", 1, 1, "got end of input"},
      {"  \n  ", 2, 3, "got end of input"},
      {"NaN", 1, 1, "expected a JSON value"},
      {"// comment\n1", 1, 1, "expected a JSON value"},
  };
  for (const BadCase& c : cases) {
    try {
      json::parse(c.text, "in.json");
      ADD_FAILURE() << "accepted: " << c.text;
    } catch (const json::ParseError& e) {
      EXPECT_EQ(e.line(), c.line) << c.text << " -> " << e.what();
      EXPECT_EQ(e.column(), c.column) << c.text << " -> " << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find(c.message), std::string::npos) << c.text << " -> " << what;
      const std::string prefix =
          "in.json:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ";
      EXPECT_EQ(what.rfind(prefix, 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(Json, LimitsNesting) {
  EXPECT_NO_THROW(json::parse(std::string(200, '[') + std::string(200, ']')));
  EXPECT_THROW(json::parse(std::string(300, '[') + std::string(300, ']')), json::ParseError);
}

TEST(Json, RefusesNonFiniteNumbers) {
  EXPECT_THROW(json::dump(Value(NAN)), Error);
  EXPECT_THROW(json::dump(Value(INFINITY)), Error);
}

TEST(Json, Files) {
  const std::string path =
      ::testing::TempDir() + "relmimic_json_" + std::to_string(getpid()) + ".json";
  json::write_file(path, sample());
  EXPECT_TRUE(json::parse_file(path) == sample());
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{\n  \"a\": [1,\n        2,,\n  ]\n}\n", f);
    std::fclose(f);
  }
  try {
    json::parse_file(path);
    ADD_FAILURE() << "accepted a bad file";
  } catch (const json::ParseError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ":3:11: ", 0), 0u) << e.what();
  }
  std::remove(path.c_str());
  EXPECT_THROW(json::parse_file(path), Error);
}

}  // namespace
}  // namespace relmimic
