namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>Why an NBD export could not be opened: one value per distinct cause a user must act on.</summary>
public enum NbdFailure
{
    /// <summary>The URI does not parse, or names something this client does not do (TLS).</summary>
    InvalidUri,

    /// <summary>Nothing answers at the address: no socket file, connection refused, no route, timeout.</summary>
    Unreachable,

    /// <summary>The peer does not speak NBD (wrong magic), or speaks only the oldstyle handshake.</summary>
    NotNbd,

    /// <summary>The server does not offer the fixed newstyle handshake, which option haggling needs.</summary>
    NoFixedNewstyle,

    /// <summary>The server refused the export name (NBD_REP_ERR_UNKNOWN) or access to it (POLICY, TLS_REQD...).</summary>
    ExportRefused,

    /// <summary>The server broke the protocol, closed the connection, or went silent during the handshake.</summary>
    Protocol,
}
