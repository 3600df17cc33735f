#!/usr/bin/env bash
# Fails when the coordinator's core library (coordinator/core/, given as
# the archive in $1) calls anything that does I/O or reads the clock: the
# planner, offer handling and task builders are pure (time and randomness are
# arguments), and this keeps them so. Run by CMake after every build of
# qm_core; reads only the archive's undefined symbols (nm).
set -euo pipefail
lib=${1:?usage: check-core-purity.sh libqm_core.a}
# libc calls that touch files, sockets, processes, clocks or the terminal,
# and every entry point of our own I/O modules and of the I/O libraries.
deny='^(open|openat|creat|close|read|write|pread|pwrite|readv|writev|lseek|'
deny+='fsync|fdatasync|f?stat|lstat|fstatat|statx|mkdir|rmdir|unlink|rename|'
deny+='fopen|fdopen|fclose|fread|fwrite|fgets|fputs|fputc|fprintf|vfprintf|'
deny+='printf|vprintf|puts|putchar|perror|fflush|getline|dprintf|syslog|'
deny+='socket|bind|listen|accept4?|connect|send|sendto|sendmsg|recv|recvfrom|'
deny+='recvmsg|poll|ppoll|select|epoll_[a-z_]+|eventfd|timerfd_[a-z]+|'
deny+='signalfd|fork|vfork|execv?p?e?|system|popen|kill|raise|sleep|usleep|'
deny+='nanosleep|clock_gettime|gettimeofday|time|getrandom|getenv|'
deny+='ioctl|mmap|munmap|dlopen|pthread_[a-z_]+|'
deny+='log_[a-z_]+|ev_[a-z_]+|bus_[a-z_]+|zk_[a-z_]+|zoo_[a-z_]+|'
deny+='curl_[a-z_]+|nng_[a-z_]+|mesos_[a-z_]+|store_[a-z_]+|http_[a-z_]+|'
deny+='MHD_[A-Za-z_]+|udev_[a-z_]+|blkid_[a-z_]+)$'
bad=$(nm -u --format=posix "$lib" 2>/dev/null | awk '{print $1}' |
      sed 's/@.*//' | sort -u | grep -E "$deny" || true)
if [ -n "$bad" ]; then
  echo "check-core-purity: $lib calls I/O; core/ must stay pure:" >&2
  printf '  %s\n' $bad >&2
  exit 1
fi
