// journal::reader: walks the parts of a journal, checking every record.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "journal_format.hpp"
#include "ringport/journal.hpp"

namespace ringport::journal {
namespace {

// A read-only mapping of one part.
struct mapping {
  const std::byte* data = nullptr;
  std::size_t size = 0;
  mapping() = default;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() { reset(); }
  void reset() noexcept {
    if (data) ::munmap(const_cast<std::byte*>(data), size);
    data = nullptr;
    size = 0;
  }
  result<void> map(const std::string& path) {
    reset();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == ENOENT) return ringport::error(errc::not_found, path + ": no such journal part");
      return system_failure(("open " + path).c_str(), e);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return ringport::error(errc::not_regular_file, path + ": not a regular file");
    }
    size = static_cast<std::size_t>(st.st_size);
    if (size < file_header_bytes) {
      ::close(fd);
      size = 0;
      return ringport::error(errc::truncated, path + ": " + std::to_string(st.st_size) +
                                                  " bytes, shorter than the 4096-byte journal header");
    }
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);
    if (m == MAP_FAILED) {
      size = 0;
      return system_failure(("mmap " + path).c_str(), e);
    }
    data = static_cast<const std::byte*>(m);
    return {};
  }
};

// Why the record at `at` (with `left` bytes from it to the part's end) is
// not valid, or empty when it is; fills the header fields.
struct header_fields {
  std::uint32_t length;
  std::uint16_t type;
  std::uint64_t seq;
};
std::string check_record(const std::byte* at, std::size_t left, header_fields& f) {
  if (left < record_header_bytes)
    return "torn record header (" + std::to_string(left) + " bytes before the end of the file)";
  f.length = format::load<std::uint32_t>(at + format::r_length);
  f.type = format::load<std::uint16_t>(at + format::r_type);
  f.seq = format::load<std::uint64_t>(at + format::r_seq);
  const auto reserved = format::load<std::uint32_t>(at + format::r_reserved);
  const auto crc = format::load<std::uint32_t>(at + format::r_crc);
  if (f.length == 0 && f.type == 0 && f.seq == 0 && crc == 0) return "zero bytes where a record should start";
  if (f.type != static_cast<std::uint16_t>(record_type::message) &&
      f.type != static_cast<std::uint16_t>(record_type::end))
    return "unknown record type " + std::to_string(f.type);
  if (reserved != 0) return "reserved field not zero";
  if (f.length > max_payload) return "record length " + std::to_string(f.length) + " above the 64 MiB limit";
  if (format::record_bytes(f.length) > left)
    return "torn record: " + std::to_string(f.length) + " payload bytes run past the end of the file";
  const std::uint32_t want = crc32c(crc32c(0, {at, format::r_crc}), {at + record_header_bytes, f.length});
  if (want != crc) return "CRC32C mismatch";
  return {};
}

}  // namespace

struct reader::impl {
  std::string path, current;
  mapping map;
  part_info info;
  std::uint32_t part = 0;
  std::uint64_t pos = file_header_bytes;
  std::uint64_t expect = 0;  // the sequence the next message must carry
  bool done = false;
  read_result final_result = read_result::end;
  std::uint32_t bad_part = 0;
  std::uint64_t bad_offset = 0;
  std::string problem;

  read_result stop(read_result r, std::string why) {
    done = true;
    final_result = r;
    bad_part = part;
    bad_offset = pos;
    problem = std::move(why);
    return r;
  }

  result<void> open_part(std::uint32_t n) {
    current = part_path(path, n);
    if (auto r = map.map(current); !r) return r;
    part_info h;
    if (std::string why = format::decode_header({map.data, map.size}, h); !why.empty()) {
      const errc code = why.find("magic") != std::string::npos     ? errc::bad_magic
                        : why.find("version") != std::string::npos ? errc::bad_version
                                                                   : errc::corrupt;
      return ringport::error(code, current + ": " + why);
    }
    if (h.part != n)
      return ringport::error(errc::corrupt, current + ": header says part " + std::to_string(h.part) +
                                                ", expected " + std::to_string(n));
    if (n != 0 && h.first_sequence != expect)
      return ringport::error(errc::corrupt,
                             current + ": starts at sequence " + std::to_string(h.first_sequence) +
                                 " where the previous part ended at " + std::to_string(expect));
    info = std::move(h);
    part = n;
    pos = file_header_bytes;
    expect = info.first_sequence;
    return {};
  }
};

reader::reader() = default;
reader::reader(reader&&) noexcept = default;
reader& reader::operator=(reader&&) noexcept = default;
reader::~reader() = default;

result<reader> reader::open(std::string path) {
  reader r;
  r.p_ = std::make_unique<impl>();
  r.p_->path = std::move(path);
  if (auto o = r.p_->open_part(0); !o) return o.error();
  return r;
}

read_result reader::next(entry& out) noexcept {
  impl& s = *p_;
  for (;;) {
    if (s.done) return s.final_result;
    if (s.pos == s.map.size)
      return s.stop(read_result::unclosed,
                    "the data stops without an end record (a writer still running, or killed)");
    const std::byte* at = s.map.data + s.pos;
    header_fields f{};
    std::string why;
    try {
      why = check_record(at, s.map.size - s.pos, f);
      if (why.empty() && f.seq != s.expect)
        why = "sequence " + std::to_string(f.seq) + " where " + std::to_string(s.expect) + " was expected";
      if (why.empty() && f.type == static_cast<std::uint16_t>(record_type::end) && f.length != 8)
        why = "end record of " + std::to_string(f.length) + " bytes (8 expected)";
    } catch (...) {
      why = "out of memory while checking";
    }
    if (!why.empty()) return s.stop(read_result::bad, why);
    if (f.type == static_cast<std::uint16_t>(record_type::end)) {
      const auto continued = format::load<std::uint64_t>(at + record_header_bytes);
      if (continued == 0) return s.stop(read_result::end, {});
      const std::uint64_t end_pos = s.pos;
      try {
        if (auto o = s.open_part(s.part + 1); !o) {
          s.pos = end_pos;
          return s.stop(read_result::bad, "the end record says another part follows: " + o.error().message);
        }
      } catch (...) {
        return s.stop(read_result::bad, "out of memory while opening the next part");
      }
      continue;
    }
    out.sequence = f.seq;
    out.realtime_ns = format::load<std::int64_t>(at + format::r_real);
    out.monotonic_ns = format::load<std::int64_t>(at + format::r_mono);
    out.source = format::load<std::uint16_t>(at + format::r_source);
    out.payload = {at + record_header_bytes, f.length};
    out.part = s.part;
    out.offset = s.pos;
    s.pos += format::record_bytes(f.length);
    ++s.expect;
    return read_result::record;
  }
}

const part_info& reader::info() const noexcept {
  return p_->info;
}
std::uint32_t reader::bad_part() const noexcept {
  return p_->bad_part;
}
std::uint64_t reader::bad_offset() const noexcept {
  return p_->bad_offset;
}
const std::string& reader::problem() const noexcept {
  return p_->problem;
}
const std::string& reader::current_path() const noexcept {
  return p_->current;
}

bool reader::valid_record_after_bad() const noexcept {
  const impl& s = *p_;
  if (s.final_result != read_result::bad || s.map.data == nullptr) return false;
  for (std::uint64_t at = s.bad_offset + 8; at + record_header_bytes <= s.map.size; at += 8) {
    header_fields f{};
    try {
      if (check_record(s.map.data + at, s.map.size - at, f).empty()) return true;
    } catch (...) {
      return false;
    }
  }
  return false;
}

}  // namespace ringport::journal
