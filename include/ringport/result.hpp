// ringport/result.hpp — control-path errors without exceptions.
//
// Every control-path call (create, open, remove, attach a role...) returns a
// result<T>: either a value or an `error` carrying a std::error_code from the
// ringport category plus a message that says what was wrong and what to do.
// Nothing here throws, so the library links into -fno-exceptions code.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace ringport {

/// Control-path error codes (category "ringport"). Each value is documented
/// with the usual cause; the error's message carries the specifics.
enum class errc : int {
  ok = 0,
  invalid_name = 1,  ///< name or domain outside [A-Za-z0-9._-]{1,64}, or "." / ".."
  invalid_argument,  ///< a size, capacity or option out of range
  already_exists,    ///< create() found the name taken
  not_found,         ///< open() found no such name in the domain
  not_regular_file,  ///< something other than a regular file sits at the name
  symlink_refused,   ///< a symbolic link sits at the name
  foreign_owner,     ///< the file belongs to another user
  bad_mode,          ///< the file's permissions are wider than ringport creates
  truncated,         ///< the file is shorter than its header says
  bad_magic,         ///< not a ringport segment
  bad_version,       ///< made by an incompatible layout version
  wrong_kind,        ///< a segment of another object kind (e.g. mpmc opened as spsc)
  wrong_arch,        ///< made on another architecture or cache-line size
  bad_layout,        ///< header fields that do not add up
  init_timeout,      ///< the creator did not finish initialising in time
  no_huge_pages,     ///< huge pages requested but none reserved / mounted
  out_of_memory,     ///< the backing store could not supply the memory
  role_taken,        ///< the single producer/consumer role is held by a live process
  too_many_roles,    ///< every role slot of a multi-producer/consumer ring is in use
  corrupt,           ///< shared state failed validation
  system_error,      ///< a system call failed (message names it, with errno text)
  unsupported,       ///< the kernel lacks a feature this call needs
  busy,              ///< a live process uses the object (e.g. ring reset with a role held)
};

const std::error_category& category() noexcept;

}  // namespace ringport

template <>
struct std::is_error_code_enum<ringport::errc> : std::true_type {};

namespace ringport {

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// A failed control-path call: a code to branch on and a message for humans.
struct error {
  std::error_code code;
  std::string message;

  error() = default;
  error(errc e, std::string msg) : code(make_error_code(e)), message(std::move(msg)) {}
  error(std::error_code c, std::string msg) : code(c), message(std::move(msg)) {}

  bool operator==(errc e) const noexcept { return code == make_error_code(e); }
};

/// Builds an error for a failed system call: "<what>: <strerror(err)>".
error system_failure(const char* what, int err);

/// The error a successful result reports: code 0, empty message.
inline const error& no_error() noexcept {
  static const error none;
  return none;
}

namespace detail {
/// Using the value of a result that holds an error: prints the error's
/// message to stderr ("ringport: ... used without checking it: <message>")
/// and aborts, in every build. Never a null dereference.
[[noreturn]] [[gnu::cold]] void bad_result_access(const error* e) noexcept;
}  // namespace detail

/// A value or an error. Check with `if (r)` / `r.has_value()`, then use `*r`,
/// `r->`, or `r.error()`. Using the value of a failed result aborts with the
/// error's message (detail::bad_result_access).

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(ringport::error err) : v_(std::in_place_index<1>, std::move(err)) {}
  result(errc e, std::string msg) : v_(std::in_place_index<1>, ringport::error(e, std::move(msg))) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & noexcept { return *checked(); }
  const T& value() const& noexcept { return *checked(); }
  T&& value() && noexcept { return std::move(*checked()); }
  T& operator*() & noexcept { return *checked(); }
  const T& operator*() const& noexcept { return *checked(); }
  T&& operator*() && noexcept { return std::move(*checked()); }
  T* operator->() noexcept { return checked(); }
  const T* operator->() const noexcept { return checked(); }

  /// The error; an empty one (code 0, no message) when there is a value, so
  /// that logging `r.error().message` is always safe.
  const ringport::error& error() const& noexcept {
    const auto* e = std::get_if<1>(&v_);
    return e ? *e : no_error();
  }
  ringport::error error() && {
    auto* e = std::get_if<1>(&v_);
    return e ? std::move(*e) : ringport::error();
  }

 private:
  T* checked() noexcept {
    if (v_.index() != 0) [[unlikely]]
      detail::bad_result_access(std::get_if<1>(&v_));
    return std::get_if<0>(&v_);
  }
  const T* checked() const noexcept {
    if (v_.index() != 0) [[unlikely]]
      detail::bad_result_access(std::get_if<1>(&v_));
    return std::get_if<0>(&v_);
  }
  std::variant<T, ringport::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(ringport::error err) : err_(std::move(err)), failed_(true) {}
  result(errc e, std::string msg) : err_(e, std::move(msg)), failed_(true) {}

  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return !failed_; }
  const ringport::error& error() const& noexcept { return err_; }

 private:
  ringport::error err_;
  bool failed_ = false;
};

}  // namespace ringport
