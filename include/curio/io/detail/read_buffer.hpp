// curio/io/detail/read_buffer.hpp: the read buffer of the byte streams (Stream and SslStream):
// bytes that arrived and were not yet returned, how far readline already searched them, and
// whether the end of the stream was seen. Bytes leave it only when an operation completes, which
// is what lets a cancelled read lose nothing. The reads over it are in src/io/buffered_reads.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace curio::detail {

class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(ReadBuffer&& o) noexcept
      : data_(std::move(o.data_)),
        pos_(std::exchange(o.pos_, 0)),
        scanned_(std::exchange(o.scanned_, 0)),
        eof_(o.eof_) {
    o.data_.clear();
  }
  ReadBuffer& operator=(ReadBuffer&& o) noexcept {
    if (this != &o) {
      data_ = std::move(o.data_);
      o.data_.clear();
      pos_ = std::exchange(o.pos_, 0);
      scanned_ = std::exchange(o.scanned_, 0);
      eof_ = o.eof_;
    }
    return *this;
  }

  std::size_t buffered() const noexcept { return data_.size() - pos_; }
  std::string_view unread() const noexcept { return {data_.data() + pos_, buffered()}; }
  bool eof() const noexcept { return eof_; }
  void set_eof() noexcept { eof_ = true; }
  void append(const char* bytes, std::size_t n) { data_.append(bytes, n); }
  // The storage that unread bytes are appended to, for a reader that appends in place (the
  // io_uring recv completion, src/io/ring_io.hpp): only appending keeps pos_ and scanned_ valid.
  std::string& append_target() noexcept { return data_; }

  // readline's progress: bytes of unread() already searched for '\n' (a readline cancelled
  // while it waited for more does not search them again).
  std::size_t scanned() const noexcept { return scanned_; }
  void set_scanned(std::size_t n) noexcept { scanned_ = n; }

  // Removes and returns up to n bytes.
  std::string take(std::size_t n) {
    scanned_ = 0;
    if (pos_ == 0 && n >= data_.size()) {  // all of it (the usual read()): no copy
      std::string all = std::move(data_);
      data_ = std::string();
      return all;
    }
    std::string out = data_.substr(pos_, n);
    pos_ += out.size();
    compact();
    return out;
  }
  // Copies up to out.size() bytes into out and removes them; readline's progress stays valid
  // for the bytes that remain.
  std::size_t take_into(std::span<std::byte> out) noexcept {
    std::size_t n = std::min(buffered(), out.size());
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    scanned_ = scanned_ > n ? scanned_ - n : 0;
    compact();
    return n;
  }
  void discard_all() noexcept {
    pos_ = data_.size();
    compact();
  }

 private:
  void compact() noexcept {
    if (pos_ == data_.size()) {
      data_.clear();
      pos_ = scanned_ = 0;
      if (data_.capacity() > 4096) data_.shrink_to_fit();  // don't pin a big buffer while idle
    } else if (pos_ > 4096 && pos_ * 2 > data_.size()) {
      data_.erase(0, pos_);
      pos_ = 0;
    }
  }

  std::string data_;         // allocated only once data arrives: an idle stream holds nothing
  std::size_t pos_ = 0;      // start of the unread bytes in data_
  std::size_t scanned_ = 0;  // see scanned()
  bool eof_ = false;
};

}  // namespace curio::detail
