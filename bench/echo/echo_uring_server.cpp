// The io_uring baseline: a hand-written, single-threaded echo server on one ring. A multishot
// accept; per connection a multishot recv into a provided-buffer ring (an idle connection holds
// no buffer); each received buffer is sent back from where it landed and returned to the buffer
// ring when its send completes. One io_uring_submit_and_wait per loop.
// Usage: echo_uring_server --port 25003 [--cpu 0]
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common.hpp"

namespace {

constexpr unsigned kBufCount = 4096;  // a power of two (the buffer ring's size)
constexpr unsigned kBufSize = 16384;
constexpr int kGroup = 1;

// user_data: the operation in the low 8 bits, the fd above, the buffer id above that (sends).
enum Op : std::uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kClose = 4 };
std::uint64_t pack(Op op, int fd, unsigned bid = 0) {
  return op | (static_cast<std::uint64_t>(fd) << 8) | (static_cast<std::uint64_t>(bid) << 40);
}

io_uring ring;
io_uring_buf_ring* bufs;
char* buf_base;

io_uring_sqe* sqe() {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring)) return s;
    io_uring_submit(&ring);
  }
}
void give_back(unsigned bid) {
  io_uring_buf_ring_add(bufs, buf_base + static_cast<std::size_t>(bid) * kBufSize, kBufSize,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(bufs, 1);
}
void arm_recv(int fd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, pack(kRecv, fd));
}
void arm_accept(int lfd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, pack(kAccept, lfd));
}

}  // namespace

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  echo_bench::pin_to_cpu(static_cast<int>(echo_bench::arg(argc, argv, "--cpu", -1)));
  int port = static_cast<int>(echo_bench::arg(argc, argv, "--port", 25003));
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    std::perror("bind/listen");
    return 1;
  }
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = 16384;
  if (int rc = io_uring_queue_init_params(4096, &ring, &params); rc < 0) {
    std::fprintf(stderr, "io_uring_queue_init: %d\n", rc);
    return 1;
  }
  // The buffer ring: its descriptors page-aligned, the buffers themselves in one block.
  std::size_t ring_bytes = kBufCount * sizeof(io_uring_buf);
  bufs = static_cast<io_uring_buf_ring*>(
      mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  buf_base = static_cast<char*>(
      mmap(nullptr, std::size_t{kBufCount} * kBufSize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  io_uring_buf_ring_init(bufs);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(bufs);
  reg.ring_entries = kBufCount;
  reg.bgid = kGroup;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    std::fprintf(stderr, "io_uring_register_buf_ring: %d\n", rc);
    return 1;
  }
  for (unsigned i = 0; i < kBufCount; ++i) give_back(i);
  arm_accept(lfd);
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      std::uint64_t data = cqe->user_data;
      auto op = static_cast<Op>(data & 0xff);
      int fd = static_cast<int>((data >> 8) & 0xffffffff);
      bool more = cqe->flags & IORING_CQE_F_MORE;
      int res = cqe->res;
      switch (op) {
        case kAccept:
          if (res >= 0) {
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            arm_recv(res);
          }
          if (!more) arm_accept(lfd);
          break;
        case kRecv:
          if (res > 0) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            io_uring_sqe* s = sqe();
            // Ping-pong loads never fill the send buffer: one send carries the whole message.
            io_uring_prep_send(s, fd, buf_base + std::size_t{bid} * kBufSize, static_cast<std::size_t>(res),
                               MSG_NOSIGNAL);
            io_uring_sqe_set_data64(s, pack(kSend, fd, bid));
            if (!more) arm_recv(fd);
          } else if (res == -ENOBUFS) {
            arm_recv(fd);  // the buffer ring ran dry: sends in flight give buffers back
          } else if (!more) {
            io_uring_sqe* s = sqe();  // EOF or error: close
            io_uring_prep_close(s, fd);
            io_uring_sqe_set_data64(s, pack(kClose, fd));
          }
          break;
        case kSend:
          give_back(static_cast<unsigned>(data >> 40));
          break;
        case kClose:
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
