namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// Numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md), under the document's names.
/// Every field on the wire is big-endian.
/// </summary>
internal static class NbdWire
{
    /// <summary>"NBDMAGIC": the first 8 bytes of every handshake, oldstyle or newstyle.</summary>
    public const ulong InitMagic = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": the server speaks newstyle; also the prefix of every option the client sends.</summary>
    public const ulong OptionMagic = 0x49484156454F5054;

    /// <summary>cliserv_magic: the server speaks only the oldstyle handshake, which has no export names.</summary>
    public const ulong OldstyleMagic = 0x00420281861253;

    /// <summary>Prefix of every option reply of the fixed newstyle handshake.</summary>
    public const ulong OptionReplyMagic = 0x3e889045565a9;

    /// <summary>NBD_REQUEST_MAGIC.</summary>
    public const uint RequestMagic = 0x25609513;

    /// <summary>NBD_SIMPLE_REPLY_MAGIC.</summary>
    public const uint SimpleReplyMagic = 0x67446698;

    /// <summary>NBD_STRUCTURED_REPLY_MAGIC.</summary>
    public const uint StructuredReplyMagic = 0x668e33ef;

    /// <summary>Handshake flag NBD_FLAG_FIXED_NEWSTYLE.</summary>
    public const ushort FlagFixedNewstyle = 1 << 0;

    /// <summary>Handshake flag NBD_FLAG_NO_ZEROES.</summary>
    public const ushort FlagNoZeroes = 1 << 1;

    /// <summary>Client flag NBD_FLAG_C_FIXED_NEWSTYLE.</summary>
    public const uint ClientFixedNewstyle = 1 << 0;

    /// <summary>Client flag NBD_FLAG_C_NO_ZEROES (only when the server offered it).</summary>
    public const uint ClientNoZeroes = 1 << 1;

    /// <summary>NBD_OPT_EXPORT_NAME: the pre-GO way into transmission; no error reply is possible.</summary>
    public const uint OptExportName = 1;

    /// <summary>NBD_OPT_ABORT.</summary>
    public const uint OptAbort = 2;

    /// <summary>NBD_OPT_GO.</summary>
    public const uint OptGo = 7;

    /// <summary>NBD_OPT_STRUCTURED_REPLY.</summary>
    public const uint OptStructuredReply = 8;

    /// <summary>NBD_REP_ACK.</summary>
    public const uint RepAck = 1;

    /// <summary>NBD_REP_INFO.</summary>
    public const uint RepInfo = 3;

    /// <summary>Bit 31 of a reply type: the option failed.</summary>
    public const uint RepErrorBit = 1u << 31;

    /// <summary>NBD_REP_ERR_UNSUP: the server does not know the option.</summary>
    public const uint RepErrUnsup = RepErrorBit + 1;

    /// <summary>NBD_REP_ERR_POLICY.</summary>
    public const uint RepErrPolicy = RepErrorBit + 2;

    /// <summary>NBD_REP_ERR_INVALID.</summary>
    public const uint RepErrInvalid = RepErrorBit + 3;

    /// <summary>NBD_REP_ERR_PLATFORM.</summary>
    public const uint RepErrPlatform = RepErrorBit + 4;

    /// <summary>NBD_REP_ERR_TLS_REQD.</summary>
    public const uint RepErrTlsReqd = RepErrorBit + 5;

    /// <summary>NBD_REP_ERR_UNKNOWN: no export of that name.</summary>
    public const uint RepErrUnknown = RepErrorBit + 6;

    /// <summary>NBD_REP_ERR_SHUTDOWN.</summary>
    public const uint RepErrShutdown = RepErrorBit + 7;

    /// <summary>NBD_REP_ERR_BLOCK_SIZE_REQD.</summary>
    public const uint RepErrBlockSizeReqd = RepErrorBit + 8;

    /// <summary>NBD_REP_ERR_TOO_BIG.</summary>
    public const uint RepErrTooBig = RepErrorBit + 9;

    /// <summary>NBD_INFO_EXPORT: size and transmission flags.</summary>
    public const ushort InfoExport = 0;

    /// <summary>NBD_INFO_BLOCK_SIZE: minimum, preferred and maximum block sizes.</summary>
    public const ushort InfoBlockSize = 3;

    /// <summary>Structured reply flag NBD_REPLY_FLAG_DONE: the last chunk of a reply.</summary>
    public const ushort ReplyFlagDone = 1 << 0;

    /// <summary>NBD_REPLY_TYPE_NONE.</summary>
    public const ushort ReplyTypeNone = 0;

    /// <summary>NBD_REPLY_TYPE_OFFSET_DATA.</summary>
    public const ushort ReplyTypeOffsetData = 1;

    /// <summary>NBD_REPLY_TYPE_OFFSET_HOLE.</summary>
    public const ushort ReplyTypeOffsetHole = 2;

    /// <summary>Bit 15 of a chunk type: an error chunk, which starts with error and message length.</summary>
    public const ushort ReplyTypeErrorBit = 1 << 15;

    /// <summary>NBD_REPLY_TYPE_ERROR.</summary>
    public const ushort ReplyTypeError = ReplyTypeErrorBit + 1;

    /// <summary>NBD_REPLY_TYPE_ERROR_OFFSET.</summary>
    public const ushort ReplyTypeErrorOffset = ReplyTypeErrorBit + 2;

    /// <summary>Request header: magic 4, flags 2, type 2, cookie 8, offset 8, length 4.</summary>
    public const int RequestSize = 28;

    /// <summary>Simple reply: magic 4, error 4, cookie 8.</summary>
    public const int SimpleReplySize = 16;

    /// <summary>Structured chunk header: magic 4, flags 2, type 2, cookie 8, length 4.</summary>
    public const int ChunkHeaderSize = 20;

    /// <summary>
    /// The longest option reply the handshake reads into memory. Replies to GO carry a few fixed
    /// fields, a name or a description (at most 4096 bytes by the document's string limit).
    /// </summary>
    public const int MaxOptionReply = 64 * 1024;

    /// <summary>The limit the document puts on an export name and on an error chunk's message.</summary>
    public const int MaxString = 4096;

    /// <summary>The payload every server should accept when it states none (2^25).</summary>
    public const uint DefaultMaxPayload = 32 * 1024 * 1024;

    /// <summary>NBD's IANA port, the default of an nbd:// URI without one.</summary>
    public const int DefaultPort = 10809;
}
