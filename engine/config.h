// Typed run settings with defaults and help text. A trainer declares every setting it reads,
// then a JSON file and `key=value` overrides change them; anything undeclared or of the wrong
// type is refused with a one-line message naming the key. to_json() writes the complete
// effective configuration, so a run folder's config.json replays the run exactly:
//
//   Config cfg;
//   cfg.add("ppo.clip", 0.2, "PPO clip range");
//   cfg.add("ppo.epochs", 10, "passes over each rollout");
//   cfg.add("env", "hopper", "task: hopper | walker2d");
//   cfg.load_file("base.json");            // {"ppo": {"clip": 0.1}, "env": "walker2d"}
//   cfg.apply_override("ppo.epochs=4");    // dotted keys reach into sections
//   double clip = cfg.get<double>("ppo.clip");
//   json::write_file(run_dir + "/config.json", cfg.to_json());
//
// Keys are dot-separated names of [A-Za-z0-9_-]; in JSON each dot is a nested object
// ("ppo.clip" is {"ppo": {"clip": ...}}). Integers are exact up to 2^53 (they travel as JSON
// numbers).
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "engine/json.h"

namespace relmimic {

class Config {
 public:
  enum class Type { Bool, Int, Double, String };
  static const char* type_name(Type t);  // "bool", "int", "double", "string"

  // Declares a setting. Throws on a malformed or repeated key, or one that clashes with a
  // section ("ppo" when "ppo.clip" exists, or the other way round).
  void add(const std::string& key, bool def, const std::string& help);
  void add(const std::string& key, int def, const std::string& help);
  void add(const std::string& key, long def, const std::string& help);
  void add(const std::string& key, double def, const std::string& help);
  void add(const std::string& key, const char* def, const std::string& help);
  void add(const std::string& key, const std::string& def, const std::string& help);

  // T is the declared type: bool, int or long (Int settings; int checks the range), double,
  // std::string. Throws naming the key when it is unknown or declared with another type.
  template <class T>
  T get(const std::string& key) const {
    if constexpr (std::is_same_v<T, bool>) {
      return get_bool(key);
    } else if constexpr (std::is_same_v<T, int>) {
      return get_int(key);
    } else if constexpr (std::is_same_v<T, long>) {
      return get_long(key);
    } else if constexpr (std::is_same_v<T, double>) {
      return get_double(key);
    } else {
      static_assert(std::is_same_v<T, std::string>,
                    "Config::get<T>: T must be bool, int, long, double or std::string");
      return get_string(key);
    }
  }

  // Programmatic assignment with the same checks as a loaded value.
  void set(const std::string& key, const json::Value& value, const std::string& source = "code");

  // Applies the settings of a JSON object (nested by section; keys it leaves out keep their
  // values). `source` names the origin in error messages.
  void load_json(const json::Value& root, const std::string& source);
  void load_file(const std::string& path);
  // "ppo.lr=1e-4": the value is read as the setting's type (bool: true/false/1/0; int: an
  // integral number, 1e6 allowed; double: a finite number; string: the text as is).
  void apply_override(const std::string& assignment);
  void apply_overrides(const std::vector<std::string>& assignments);

  // Every setting, nested by section, in declaration order.
  json::Value to_json() const;
  std::string dump(int indent = 2) const { return json::dump(to_json(), indent); }
  // One line per setting: key, type, current value, help.
  std::string help() const;

  bool has(const std::string& key) const { return find(key) != nullptr; }
  Type type(const std::string& key) const;
  // Keys in declaration order.
  std::vector<std::string> keys() const;

 private:
  struct Setting {
    std::string key, help;
    Type type;
    json::Value value;  // bool, number (integral for Int) or string
  };

  void declare(const std::string& key, Type type, json::Value def, const std::string& help);
  const Setting* find(const std::string& key) const;
  Setting* find(const std::string& key);
  const Setting& lookup(const std::string& key, Type want, const char* asked) const;
  bool is_section(const std::string& prefix) const;
  [[noreturn]] void unknown_key(const std::string& key, const std::string& source) const;
  void assign(Setting& s, const json::Value& v, const std::string& source);
  void load_section(const json::Value& obj, const std::string& prefix, const std::string& source);

  bool get_bool(const std::string& key) const;
  int get_int(const std::string& key) const;
  long get_long(const std::string& key) const;
  double get_double(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  std::vector<Setting> settings_;
};

}  // namespace relmimic
