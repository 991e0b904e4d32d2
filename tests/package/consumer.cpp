// The program every packaging test builds: it knows ringport only through the
// installed (or add_subdirectory'd) package. It creates a segment in a domain
// of its own, opens it a second time, checks the bytes, removes the segment
// and its domain directory, and exits non-zero on any failure.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ringport/segment.hpp>
#include <string>

namespace {
int fail(const char* step, const ringport::error& e) {
  std::fprintf(stderr, "package consumer: %s failed: %s\n", step, e.message.c_str());
  return 1;
}
}  // namespace

int main() {
  const std::string domain = "pkgtest-" + std::to_string(::getpid());
  ::setenv("RINGPORT_DOMAIN", domain.c_str(), 1);

  ringport::segment_options opt;
  opt.backing = ringport::pages::normal;
  auto made = ringport::segment::create(
      "hello", 4096, opt, [](std::byte* p, std::size_t) { std::memcpy(p, "hello from the package", 23); });
  if (!made) return fail("create", made.error());
  auto seen = ringport::segment::open("hello");
  if (!seen) return fail("open", seen.error());
  if (std::memcmp(seen->payload(), "hello from the package", 23) != 0) {
    std::fprintf(stderr, "package consumer: open() saw other bytes than create() wrote\n");
    return 1;
  }
  if (auto gone = ringport::segment::remove("hello"); !gone) return fail("remove", gone.error());
  if (auto again = ringport::segment::open("hello"); again || !(again.error() == ringport::errc::not_found)) {
    std::fprintf(stderr, "package consumer: the segment is still there after remove()\n");
    return 1;
  }
  const std::string path = made->info().path;
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::rmdir(dir.c_str()) != 0) {
    std::fprintf(stderr, "package consumer: could not remove %s\n", dir.c_str());
    return 1;
  }
  std::printf("package consumer: ok (%s)\n", path.c_str());
  return 0;
}
