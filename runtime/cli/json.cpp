// The tool's JSON writer (see json.hpp).
#include "json.hpp"

#include <cmath>
#include <cstdio>

namespace ringport::cli {
namespace {

// Length of the UTF-8 sequence starting at s[i], 0 if it is not valid.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const std::size_t n = utf8_length(s, i); n != 0) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      out += "\\ufffd";
    }
  }
  return out + "\"";
}

void json::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (need_comma_) out_ += ',';
}

json& json::key(std::string_view k) {
  separate();
  out_ += json_string(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

json& json::begin_object() {
  separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}

json& json::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}

json& json::begin_array() {
  separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}

json& json::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}

json& json::value(std::string_view s) {
  separate();
  out_ += json_string(s);
  need_comma_ = true;
  return *this;
}

json& json::number(std::uint64_t n) {
  separate();
  out_ += std::to_string(n);
  need_comma_ = true;
  return *this;
}

json& json::value(bool b) {
  separate();
  out_ += b ? "true" : "false";
  need_comma_ = true;
  return *this;
}

json& json::value(double d) {
  if (!std::isfinite(d)) return null();
  separate();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", d);
  out_ += buf;
  need_comma_ = true;
  return *this;
}

json& json::null() {
  separate();
  out_ += "null";
  need_comma_ = true;
  return *this;
}

}  // namespace ringport::cli
