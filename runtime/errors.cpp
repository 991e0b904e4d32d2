// Error category and messages for ringport::errc.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ringport/result.hpp"

namespace ringport {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ringport"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "success";
      case errc::invalid_name:
        return "invalid name";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::already_exists:
        return "already exists";
      case errc::not_found:
        return "not found";
      case errc::not_regular_file:
        return "not a regular file";
      case errc::symlink_refused:
        return "symbolic link refused";
      case errc::foreign_owner:
        return "owned by another user";
      case errc::bad_mode:
        return "permissions wider than expected";
      case errc::truncated:
        return "file truncated";
      case errc::bad_magic:
        return "not a ringport segment";
      case errc::bad_version:
        return "incompatible layout version";
      case errc::wrong_kind:
        return "wrong object kind";
      case errc::wrong_arch:
        return "made for another architecture";
      case errc::bad_layout:
        return "inconsistent header";
      case errc::init_timeout:
        return "creator did not finish initialising";
      case errc::no_huge_pages:
        return "no huge pages available";
      case errc::out_of_memory:
        return "out of memory";
      case errc::role_taken:
        return "role held by a live process";
      case errc::too_many_roles:
        return "no free role slot";
      case errc::corrupt:
        return "shared state corrupt";
      case errc::system_error:
        return "system call failed";
      case errc::unsupported:
        return "unsupported by this kernel";
      case errc::busy:
        return "in use by a live process";
    }
    return "unknown ringport error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

error system_failure(const char* what, int err) {
  return error(std::error_code(err, std::system_category()), std::string(what) + ": " + std::strerror(err));
}

}  // namespace ringport

namespace ringport::detail {

void bad_result_access(const error* e) noexcept {
  std::fprintf(stderr,
               "ringport: a result holding an error was used as a value without checking it first "
               "(if (r) ...): %s\n",
               e != nullptr && !e->message.empty() ? e->message.c_str() : "(no message)");
  std::abort();
}

}  // namespace ringport::detail
