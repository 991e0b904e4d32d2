// Fuzz target: opening a segment file with any header bytes and any size.
//
// Input: [entry][size: 4 bytes LE][content...]. The target plants the
// content at a name in a private domain directory (a regular file of `size`
// bytes, zero-filled past the content, with one of four modes; or a symlink,
// a directory or a fifo there instead), then opens it as a raw segment, as
// every object kind, as every ring kind of two element types and as a
// mailbox, lists the domain, and runs a few non-waiting operations on
// whatever opened.
//
// Checked: each open returns an error or an object whose recorded sizes
// match the file; every span an operation on it returns lies inside its
// slots; no crash, no sanitizer report. The segment open timeout is 0 ms;
// the ring and mailbox opens (which have no timeout option and wait 2 s for
// a creator that is still initialising) run only when the raw open did not
// report init_timeout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "fuzz_util.hpp"
#include "ringport/detail/segment_header.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"

namespace {

using namespace ringport;
constexpr const char* seg_name = "planted";
constexpr std::uint32_t max_file = 1u << 22;  // 4 MiB

struct item24 {
  std::uint64_t w[3];
};

std::string g_dir;

void plant(fuzz::input& in) {
  const std::uint8_t entry = in.u8();
  const std::uint32_t size = in.u32() % (max_file + 1);
  const auto content = in.rest();
  const std::string path = g_dir + "/" + seg_name;
  const std::string target = g_dir + "/target";
  static constexpr mode_t modes[] = {0600, 0660, 0640, 0604};
  const mode_t mode = modes[(entry >> 3) & 3];
  switch (entry & 7) {
    case 5:
      FUZZ_CHECK(::symlink("target", path.c_str()) == 0);
      break;
    case 6:
      FUZZ_CHECK(::mkdir(path.c_str(), 0700) == 0);
      return;
    case 7:
      FUZZ_CHECK(::mkfifo(path.c_str(), 0600) == 0);
      return;
    default:
      break;
  }
  const std::string& file = (entry & 7) == 5 ? target : path;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  const std::size_t n = std::min<std::size_t>(content.size(), size);
  FUZZ_CHECK(::write(fd, content.data(), n) == static_cast<ssize_t>(n));
  FUZZ_CHECK(::ftruncate(fd, size) == 0);
  FUZZ_CHECK(::fchmod(fd, mode) == 0);
  ::close(fd);
}

void unplant() {
  const std::string path = g_dir + "/" + seg_name;
  if (::unlink(path.c_str()) != 0) ::rmdir(path.c_str());
  ::unlink((g_dir + "/target").c_str());
}

std::uint64_t file_size() {
  struct stat st {};
  return ::stat((g_dir + "/" + seg_name).c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

void check_info(const segment_info& i) {
  FUZZ_CHECK(i.total_size == file_size());
  FUZZ_CHECK(i.payload_size <= i.total_size - detail::header_bytes);
}

template <class Ring>
void try_ring() {
  using T = typename Ring::value_type;
  auto r = Ring::open(seg_name);
  if (!r) return;
  check_info(r->info());
  const std::size_t cap = r->capacity();
  FUZZ_CHECK(cap != 0 && (cap & (cap - 1)) == 0);
  FUZZ_CHECK(r->info().capacity == cap);  // the header agrees with the ring
  auto c = r->consumer(wait_policy::block);
  auto p = r->producer(wait_policy::block);
  if (!c || !p) return;
  const fuzz::ring_map m = fuzz::locate(c->readable(), r->info());
  T v{};
  (void)p->try_push(v);
  (void)c->try_pop(v);
  std::span<T> w = p->claim(cap);
  FUZZ_CHECK(w.size() <= cap && (w.empty() || m.in_slots(w.data(), w.size_bytes())));
  p->commit();
  std::span<const T> rd = c->peek(cap);
  FUZZ_CHECK(rd.size() <= cap && (rd.empty() || m.in_slots(rd.data(), rd.size_bytes())));
  c->release();
  FUZZ_CHECK(r->size() <= cap);
}

void try_mailbox() {
  auto box = mailbox::open(seg_name);
  if (!box) return;
  check_info(box->info());
  const std::size_t max = box->max_message_size();
  auto rx = box->receiver(wait_policy::block);
  auto tx = box->sender(wait_policy::block);
  if (!rx || !tx) return;
  const fuzz::ring_map m = fuzz::locate(rx->readable(), box->info());
  FUZZ_CHECK(m.geo.stride >= mailbox_header_bytes + max);
  std::vector<std::byte> buf(max);
  (void)tx->try_send(buf);
  std::size_t len = 0;
  if (rx->try_receive(buf, len) == status::ok) FUZZ_CHECK(len <= max);
  std::span<const std::byte> view;
  if (rx->try_peek(view) == status::ok) {
    FUZZ_CHECK(view.size() <= max);
    FUZZ_CHECK(m.in_one_slot(view.data(), view.size(), mailbox_header_bytes));
  }
  rx->release();
  FUZZ_CHECK(box->size() <= box->capacity());
}

// Opens the planted entry every way there is.
void open_all() {
  segment_options raw;
  raw.open_timeout = std::chrono::milliseconds(0);
  auto seg = segment::open(seg_name, raw);
  if (seg) {
    check_info(seg->info());
    FUZZ_CHECK(seg->payload_size() == seg->info().payload_size);
    if (seg->payload_size() != 0) {
      // The whole payload must be mapped: touch its first and last byte.
      volatile std::byte* pl = seg->payload();
      pl[0] = pl[0];
      pl[seg->payload_size() - 1] = pl[seg->payload_size() - 1];
    }
  } else if (seg.error() == errc::init_timeout) {
    return;
  }
  for (std::uint32_t k = 1; k <= 8; ++k) {
    segment_options o = raw;
    o.kind = static_cast<object_kind>(k);
    if (auto s = segment::open(seg_name, o)) check_info(s->info());
  }
  try_ring<spsc<std::uint64_t>>();
  try_ring<mpsc<std::uint64_t>>();
  try_ring<spmc<item24>>();
  try_ring<mpmc<item24>>();
  try_ring<spsc<item24>>();
  try_ring<mpmc<std::uint64_t>>();
  try_mailbox();
  if (auto all = segment::list())
    for (const auto& i : *all) FUZZ_CHECK(i.payload_size <= i.total_size - detail::header_bytes);
}

// Seeds: real segments of every kind, made by this build, with their
// trailing zeros left to the size field.
std::vector<std::uint8_t> seed_of(const std::string& name, std::uint8_t entry) {
  std::ifstream f(g_dir + "/" + name, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t size = bytes.size();
  while (!bytes.empty() && bytes.back() == 0) bytes.pop_back();
  std::vector<std::uint8_t> out;
  fuzz::put_u8(out, entry);
  fuzz::put_u32(out, size);
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

// A ring with one item queued and both roles held (by this process), so the
// seed has non-zero positions, turns and role slots.
template <class Ring>
std::vector<std::uint8_t> busy_seed(const char* name, std::size_t capacity) {
  ring_options ro;
  ro.backing = pages::normal;
  ro.capacity = capacity;
  auto r = Ring::create(name, ro);
  FUZZ_CHECK(r.has_value());
  auto p = r->producer();
  auto c = r->consumer();
  FUZZ_CHECK(p && c && p->try_push(typename Ring::value_type{}) == status::ok);
  return seed_of(name, 0);
}

std::vector<std::vector<std::uint8_t>> seeds() {
  g_dir = fuzz::domain_dir("fuzz");
  std::vector<std::vector<std::uint8_t>> out;
  out.push_back(busy_seed<spsc<std::uint64_t>>("s1", 2));
  out.push_back(busy_seed<mpsc<std::uint64_t>>("s2", 2));
  out.push_back(busy_seed<spmc<item24>>("s3", 1));
  out.push_back(busy_seed<mpmc<item24>>("s4", 4));
  mailbox_options mo;
  mo.capacity = 2;
  mo.max_message_size = 16;
  mo.backing = pages::normal;
  {
    auto box = mailbox::create("s5", mo);
    FUZZ_CHECK(box.has_value());
    auto tx = box->sender();
    auto rx = box->receiver();
    const std::byte msg[3] = {};
    FUZZ_CHECK(tx && rx && tx->try_send(msg) == status::ok);
    out.push_back(seed_of("s5", 0));
    out.push_back(seed_of("s5", 8));  // mode 0660
  }
  segment_options so;
  so.backing = pages::normal;
  FUZZ_CHECK(segment::create("s6", 1, so).has_value());
  out.push_back(seed_of("s6", 0));
  out.push_back(seed_of("s1", 5));  // as a symlink
  out.push_back({6, 0, 0, 0, 0});   // a directory
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::seeds_mode(seeds);
  g_dir = fuzz::domain_dir("fuzz");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  plant(in);
  open_all();
  unplant();
  return 0;
}
