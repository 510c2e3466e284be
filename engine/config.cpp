#include "engine/config.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <sstream>

namespace relmimic {

namespace {

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53: JSON numbers are doubles

bool valid_segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Non-empty dot-separated segments of [A-Za-z0-9_-].
bool valid_key(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '.') {
      if (key[i + 1] == '.') return false;
    } else if (!valid_segment_char(key[i])) {
      return false;
    }
  }
  return true;
}

// "a string \"abc\"", "a number 2.5", "an object", ... for messages (long values shortened).
std::string describe(const json::Value& v) {
  std::string text;
  switch (v.type()) {
    case json::Type::Null:
      return "null";
    case json::Type::Array:
      return "an array";
    case json::Type::Object:
      return "an object";
    case json::Type::Bool:
      text = "a bool ";
      break;
    case json::Type::Number:
      text = "a number ";
      break;
    case json::Type::String:
      text = "a string ";
      break;
  }
  if (v.is_number() && !std::isfinite(v.as_number())) {
    std::ostringstream os;  // JSON has no spelling for these
    os << text << v.as_number();
    return os.str();
  }
  std::string body = json::dump(v, 0);
  if (body.size() > 40) body = body.substr(0, 37) + "...";
  return text + body;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const char* Config::type_name(Type t) {
  switch (t) {
    case Type::Bool:
      return "bool";
    case Type::Int:
      return "int";
    case Type::Double:
      return "double";
    case Type::String:
      return "string";
  }
  return "?";
}

// ---- declaration -----------------------------------------------------------------------------

void Config::declare(const std::string& key, Type type, json::Value def, const std::string& help) {
  RM_CHECK(valid_key(key), "config key '", key,
           "' is malformed (dot-separated names of letters, digits, '_' and '-')");
  RM_CHECK(find(key) == nullptr, "config key '", key, "' is declared twice");
  RM_CHECK(!is_section(key), "config key '", key, "' clashes with the section of the same name");
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
    RM_CHECK(find(key.substr(0, dot)) == nullptr, "config key '", key, "' would make the setting '",
             key.substr(0, dot), "' a section");
  settings_.push_back({key, help, type, json::Value()});
  try {
    assign(settings_.back(), def, "its declaration");
  } catch (...) {
    settings_.pop_back();
    throw;
  }
}

void Config::add(const std::string& key, bool def, const std::string& help) {
  declare(key, Type::Bool, json::Value(def), help);
}
void Config::add(const std::string& key, int def, const std::string& help) {
  declare(key, Type::Int, json::Value(def), help);
}
void Config::add(const std::string& key, long def, const std::string& help) {
  declare(key, Type::Int, json::Value(def), help);
}
void Config::add(const std::string& key, double def, const std::string& help) {
  declare(key, Type::Double, json::Value(def), help);
}
void Config::add(const std::string& key, const char* def, const std::string& help) {
  RM_CHECK(def != nullptr, "config key '", key, "': the default string is null");
  declare(key, Type::String, json::Value(def), help);
}
void Config::add(const std::string& key, const std::string& def, const std::string& help) {
  declare(key, Type::String, json::Value(def), help);
}

// ---- lookup ----------------------------------------------------------------------------------

const Config::Setting* Config::find(const std::string& key) const {
  for (const Setting& s : settings_)
    if (s.key == key) return &s;
  return nullptr;
}
Config::Setting* Config::find(const std::string& key) {
  for (Setting& s : settings_)
    if (s.key == key) return &s;
  return nullptr;
}

bool Config::is_section(const std::string& prefix) const {
  for (const Setting& s : settings_)
    if (s.key.size() > prefix.size() && s.key.compare(0, prefix.size(), prefix) == 0 &&
        s.key[prefix.size()] == '.')
      return true;
  return false;
}

void Config::unknown_key(const std::string& key, const std::string& source) const {
  const Setting* best = nullptr;
  size_t best_d = 4;  // suggest only near misses
  for (const Setting& s : settings_) {
    const size_t d = edit_distance(key, s.key);
    if (d < best_d) best_d = d, best = &s;
  }
  if (best)
    RM_FAIL("unknown config key '", key, "' in ", source, "; did you mean '", best->key, "'?");
  RM_FAIL("unknown config key '", key, "' in ", source);
}

const Config::Setting& Config::lookup(const std::string& key, Type want, const char* asked) const {
  const Setting* s = find(key);
  if (!s) unknown_key(key, std::string("get<") + asked + ">");
  RM_CHECK(s->type == want, "config key '", key, "' is declared as ", type_name(s->type),
           ", read as ", asked);
  return *s;
}

Config::Type Config::type(const std::string& key) const {
  const Setting* s = find(key);
  if (!s) unknown_key(key, "type()");
  return s->type;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> k;
  for (const Setting& s : settings_) k.push_back(s.key);
  return k;
}

bool Config::get_bool(const std::string& key) const {
  return lookup(key, Type::Bool, "bool").value.as_bool();
}
long Config::get_long(const std::string& key) const {
  return lookup(key, Type::Int, "long").value.as_long();
}
int Config::get_int(const std::string& key) const {
  const long v = lookup(key, Type::Int, "int").value.as_long();
  RM_CHECK(v >= INT_MIN && v <= INT_MAX, "config key '", key, "' = ", v,
           " does not fit an int (read it as long)");
  return int(v);
}
double Config::get_double(const std::string& key) const {
  return lookup(key, Type::Double, "double").value.as_number();
}
std::string Config::get_string(const std::string& key) const {
  return lookup(key, Type::String, "std::string").value.as_string();
}

// ---- assignment ------------------------------------------------------------------------------

void Config::assign(Setting& s, const json::Value& v, const std::string& source) {
  auto wrong = [&](const char* expected) {
    RM_FAIL("config key '", s.key, "' in ", source, " expects ", expected, ", got ", describe(v));
  };
  switch (s.type) {
    case Type::Bool:
      if (!v.is_bool()) wrong("a bool");
      break;
    case Type::Int:
      if (!v.is_number()) wrong("an integer");
      if (!v.is_integer()) {
        if (std::fabs(v.as_number()) > kMaxExactInteger && std::isfinite(v.as_number()))
          wrong("an integer within +-2^53");
        wrong("an integer");
      }
      break;
    case Type::Double:
      if (!v.is_number()) wrong("a number");
      if (!std::isfinite(v.as_number())) wrong("a finite number");
      break;
    case Type::String:
      if (!v.is_string()) wrong("a string");
      break;
  }
  s.value = v;
}

void Config::set(const std::string& key, const json::Value& value, const std::string& source) {
  Setting* s = find(key);
  if (!s) {
    RM_CHECK(!is_section(key), "config key '", key, "' in ", source,
             " is a section, not a setting");
    unknown_key(key, source);
  }
  assign(*s, value, source);
}

void Config::load_section(const json::Value& obj, const std::string& prefix,
                          const std::string& source) {
  for (const json::Member& m : obj.as_object()) {
    const std::string path = prefix.empty() ? m.first : prefix + "." + m.first;
    RM_CHECK(m.first.find('.') == std::string::npos, "config key '", path, "' in ", source,
             ": write sections as nested objects, not dotted keys");
    if (Setting* s = find(path)) {
      assign(*s, m.second, source);
    } else if (is_section(path)) {
      RM_CHECK(m.second.is_object(), "config section '", path, "' in ", source,
               " must be an object, got ", describe(m.second));
      load_section(m.second, path, source);
    } else {
      unknown_key(path, source);
    }
  }
}

void Config::load_json(const json::Value& root, const std::string& source) {
  RM_CHECK(root.is_object(), "config in ", source, " must be a JSON object, got ", describe(root));
  load_section(root, "", source);
}

void Config::load_file(const std::string& path) {
  load_json(json::parse_file(path), path);
}

void Config::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  RM_CHECK(eq != std::string::npos, "override '", assignment, "' is not of the form key=value");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const std::string source = "override '" + assignment + "'";
  const Setting* s = find(key);
  if (!s) {
    RM_CHECK(!is_section(key), "config key '", key, "' in ", source,
             " is a section, not a setting");
    unknown_key(key, source);
  }
  json::Value v(text);  // strings take the text as is
  auto number = [&](double& x) {
    const char* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, x);
    return !text.empty() && r.ec == std::errc() && r.ptr == end;
  };
  switch (s->type) {
    case Type::Bool:
      if (text == "true" || text == "1")
        v = json::Value(true);
      else if (text == "false" || text == "0")
        v = json::Value(false);
      else
        RM_FAIL("config key '", key, "' in ", source, " expects true/false/1/0, got '", text, "'");
      break;
    case Type::Int:
    case Type::Double: {
      double x = 0;
      if (!number(x))
        RM_FAIL("config key '", key, "' in ", source, " expects ",
                s->type == Type::Int ? "an integer" : "a number", ", got '", text, "'");
      v = json::Value(x);
      break;
    }
    case Type::String:
      break;
  }
  set(key, v, source);
}

void Config::apply_overrides(const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) apply_override(a);
}

// ---- output ----------------------------------------------------------------------------------

json::Value Config::to_json() const {
  json::Value root = json::Value::object();
  for (const Setting& s : settings_) {
    json::Value* node = &root;
    size_t start = 0;
    for (size_t dot = s.key.find('.'); dot != std::string::npos; dot = s.key.find('.', start)) {
      const std::string name = s.key.substr(start, dot - start);
      json::Value* child = node->find(name);
      node = child ? child : &node->set(name, json::Value::object());
      start = dot + 1;
    }
    node->set(s.key.substr(start), s.value);
  }
  return root;
}

std::string Config::help() const {
  size_t wk = 0, wv = 0;
  for (const Setting& s : settings_) {
    wk = std::max(wk, s.key.size());
    wv = std::max(wv, json::dump(s.value, 0).size());
  }
  std::ostringstream os;
  for (const Setting& s : settings_) {
    const std::string v = json::dump(s.value, 0);
    os << "  " << s.key << std::string(wk - s.key.size() + 2, ' ') << type_name(s.type)
       << std::string(8 - std::string(type_name(s.type)).size(), ' ') << v
       << std::string(wv - v.size() + 2, ' ') << s.help << "\n";
  }
  return os.str();
}

}  // namespace relmimic
