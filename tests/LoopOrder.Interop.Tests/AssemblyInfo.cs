// Everything under test is Linux-only (io_uring, eventfd, sched_setaffinity).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
