// The interposed system calls (see fault_shim.hpp).
#include "faults/fault_shim.hpp"

#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  using Fn = int (*)(int, int, int, struct epoll_event*);
  static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "epoll_ctl"));
  if (op == EPOLL_CTL_ADD && fault::epoll_ctl_add.take()) {
    errno = fault::epoll_ctl_add.err;
    return -1;
  }
  return real(epfd, op, fd, event);
}

extern "C" int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  using Fn = int (*)(int, struct sockaddr*, socklen_t*, int);
  static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "accept4"));
  if (fault::accept4.take()) {
    errno = fault::accept4.err;
    return -1;
  }
  return real(fd, addr, len, flags);
}
