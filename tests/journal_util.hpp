// Helpers of the journal tests: scratch directories, deterministic messages,
// a mailbox fed or drained by a thread, a journal read back whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ringport/journal.hpp"
#include "ringport/mailbox.hpp"

namespace journal_test {

/// A fresh directory under /tmp (ext4 here, so O_DIRECT works), removed with its files.
struct scratch_dir {
  std::string path;
  scratch_dir();
  ~scratch_dir();
  std::string file(const std::string& name) const { return path + "/" + name; }
};

/// Message i of a run seeded `seed`: 0..max bytes, every byte derived from (seed, i).
std::vector<std::byte> message(std::uint64_t seed, std::uint64_t i, std::size_t max);
/// The index that message() wrote into a payload of at least 8 bytes (~0 if shorter).
std::uint64_t index_of(const std::vector<std::byte>& m);

/// A new mailbox (normal pages; one of that name is removed first) of `capacity` messages of up to max bytes.
ringport::mailbox make_mailbox(const std::string& name, std::size_t capacity, std::size_t max);

/// Every record of the journal at path, and how it ended.
struct contents {
  std::vector<std::vector<std::byte>> payloads;
  std::vector<ringport::journal::entry> entries;  // payload spans are cleared
  ringport::journal::read_result end = ringport::journal::read_result::end;
  std::uint64_t bad_offset = 0;
  std::uint32_t bad_part = 0;
  std::string problem;
  bool valid_after_bad = false;
  std::string open_error;  // non-empty when open() failed
};
contents read_all(const std::string& path);

}  // namespace journal_test
