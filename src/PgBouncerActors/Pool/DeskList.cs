namespace PgBouncerActors.Pool;

/// <summary>A node of a <see cref="DeskList{T}"/>: its links live in the item itself, so the desk allocates nothing per list operation.</summary>
internal interface IDeskListNode<T>
    where T : class
{
    T? Previous { get; set; }

    T? Next { get; set; }
}

/// <summary>
/// A doubly-linked list threaded through its items (a desk's idle connections, its waiters): add at
/// either end and remove any item in constant time. Not thread-safe: used under the desk's lock.
/// </summary>
internal struct DeskList<T>
    where T : class, IDeskListNode<T>
{
    public T? First { get; private set; }

    public T? Last { get; private set; }

    public int Count { get; private set; }

    public void AddLast(T item)
    {
        item.Previous = Last;
        item.Next = null;
        if (Last is null)
        {
            First = item;
        }
        else
        {
            Last.Next = item;
        }

        Last = item;
        Count++;
    }

    public void AddFirst(T item)
    {
        item.Previous = null;
        item.Next = First;
        if (First is null)
        {
            Last = item;
        }
        else
        {
            First.Previous = item;
        }

        First = item;
        Count++;
    }

    public void Remove(T item)
    {
        if (item.Previous is { } previous)
        {
            previous.Next = item.Next;
        }
        else
        {
            First = item.Next;
        }

        if (item.Next is { } next)
        {
            next.Previous = item.Previous;
        }
        else
        {
            Last = item.Previous;
        }

        item.Previous = null;
        item.Next = null;
        Count--;
    }

    /// <summary>The items, first to last (the next link is read before each is given out, so the caller may remove it).</summary>
    public IEnumerable<T> Items()
    {
        for (var item = First; item is not null;)
        {
            var next = item.Next;
            yield return item;
            item = next;
        }
    }
}
