using System.Diagnostics;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>Reads and writes one pair of intrusive links on a request, so one list type serves every list.</summary>
internal interface IRequestLinks
{
    static abstract BlockRequest? Prev(BlockRequest r);
    static abstract BlockRequest? Next(BlockRequest r);
    static abstract void Set(BlockRequest r, BlockRequest? prev, BlockRequest? next);
    static abstract void SetPrev(BlockRequest r, BlockRequest? prev);
    static abstract void SetNext(BlockRequest r, BlockRequest? next);
}

/// <summary>The links for the unlanded-write and flush lists.</summary>
internal readonly struct MainLinks : IRequestLinks
{
    public static BlockRequest? Prev(BlockRequest r) => r.Prev;
    public static BlockRequest? Next(BlockRequest r) => r.Next;
    public static void Set(BlockRequest r, BlockRequest? prev, BlockRequest? next) { r.Prev = prev; r.Next = next; }
    public static void SetPrev(BlockRequest r, BlockRequest? prev) => r.Prev = prev;
    public static void SetNext(BlockRequest r, BlockRequest? next) => r.Next = next;
}

/// <summary>The links for the waiting list.</summary>
internal readonly struct WaitLinks : IRequestLinks
{
    public static BlockRequest? Prev(BlockRequest r) => r.WaitPrev;
    public static BlockRequest? Next(BlockRequest r) => r.WaitNext;
    public static void Set(BlockRequest r, BlockRequest? prev, BlockRequest? next) { r.WaitPrev = prev; r.WaitNext = next; }
    public static void SetPrev(BlockRequest r, BlockRequest? prev) => r.WaitPrev = prev;
    public static void SetNext(BlockRequest r, BlockRequest? next) => r.WaitNext = next;
}

/// <summary>
/// An intrusive doubly-linked list of requests in sequence order (requests are appended as they
/// are received, so appending keeps the order). No allocation: the links live in the requests.
/// A mutable struct: keep it in a field and call it in place.
/// </summary>
internal struct RequestList<TLinks> where TLinks : struct, IRequestLinks
{
    /// <summary>Oldest request, or null.</summary>
    public BlockRequest? Head;

    /// <summary>Newest request, or null.</summary>
    public BlockRequest? Tail;

    /// <summary>Number of requests on the list.</summary>
    public int Count;

    public readonly bool IsEmpty => Head is null;

    public void AddLast(BlockRequest r)
    {
        Debug.Assert(TLinks.Prev(r) is null && TLinks.Next(r) is null && Head != r, "request already on a list");
        Debug.Assert(Tail is null || Tail.Seq < r.Seq, "lists are kept in sequence order");
        TLinks.Set(r, Tail, null);
        if (Tail is null)
        {
            Head = r;
        }
        else
        {
            TLinks.SetNext(Tail, r);
        }

        Tail = r;
        Count++;
    }

    public void Remove(BlockRequest r)
    {
        BlockRequest? prev = TLinks.Prev(r), next = TLinks.Next(r);
        Debug.Assert(prev is not null || Head == r, "request not on this list");
        if (prev is null)
        {
            Head = next;
        }
        else
        {
            TLinks.SetNext(prev, next);
        }

        if (next is null)
        {
            Tail = prev;
        }
        else
        {
            TLinks.SetPrev(next, prev);
        }

        TLinks.Set(r, null, null);
        Count--;
    }
}
