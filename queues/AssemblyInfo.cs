// The ordering engine is Linux-only, like everything that stands on the interop layer.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
