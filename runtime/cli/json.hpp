// A small JSON writer for the tool's --json output: one document into a
// string, commas and escaping done here, nothing else (no parsing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace ringport::cli {

class json {
 public:
  /// Members of an object: key(k) then one value, or begin_object/array.
  json& key(std::string_view k);
  json& begin_object();
  json& end_object();
  json& begin_array();
  json& end_array();
  json& value(std::string_view s);
  json& value(const char* s) { return value(std::string_view(s)); }
  template <class I>
  requires(std::is_unsigned_v<I> && !std::is_same_v<I, bool>) json& value(I n) {
    return number(static_cast<std::uint64_t>(n));
  }
  json& value(bool b);
  /// A finite number with one decimal (non-finite: null).
  json& value(double d);
  json& null();
  /// key(k).value(v), for the common case.
  template <class T>
  json& field(std::string_view k, const T& v) {
    return key(k).value(v);
  }
  const std::string& text() const noexcept { return out_; }

 private:
  void separate();
  json& number(std::uint64_t n);
  std::string out_;
  bool need_comma_ = false;
  bool after_key_ = false;
};

/// `s` as a JSON string literal (quotes, escapes; bytes >= 0x80 pass through
/// when they form UTF-8, else become U+FFFD).
std::string json_string(std::string_view s);

}  // namespace ringport::cli
