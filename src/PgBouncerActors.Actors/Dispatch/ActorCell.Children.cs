using PgBouncerActors.Actors.Supervision;

namespace PgBouncerActors.Actors;

/// <summary>
/// Children and termination. A name stays taken until its actor has fully terminated, so a new
/// child cannot be confused with the one still stopping. An actor stops its children first and
/// runs its own PostStop only when the last of them has terminated.
/// </summary>
internal sealed partial class ActorCell
{
    private ChildrenContainer? _children;
    private int _nextAutoName;

    public IActorRef ActorOf(Props props, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(props);
        name = name is null ? NextAutoName() : ValidateName(name);
        var children = EnsureChildren();
        ActorCell child;
        lock (children)
        {
            if (IsTerminating || Mailbox.IsClosed)
            {
                throw new InvalidOperationException($"[{Self.Path}] is stopping and cannot create children.");
            }

            if (children.Entries.ContainsKey(name))
            {
                throw new InvalidActorNameException($"Actor name [{name}] is not unique under [{Self.Path}].");
            }

            child = new ActorCell(System, props, SelfRef, Self.Path.Child(name, NewUid()));
            children.Entries.Add(name, new ChildEntry(child));
        }

        child.Start();
        return child.Self;
    }

    public void Stop(IActorRef actor)
    {
        if (actor is not IInternalActorRef target)
        {
            throw new ArgumentException($"Cannot stop {actor}: not an actor of this kernel.", nameof(actor));
        }

        var entry = target.Path.Parent == Self.Path ? FindChild(target.Path.Name) : null;
        if (entry is not null && ReferenceEquals(entry.Cell.Self, target))
        {
            entry.Stopping = true;
        }

        target.SendSystemMessage(new Terminate());
    }

    public IActorRef? Child(string name) => FindChild(name)?.Cell.Self;

    public IReadOnlyList<IActorRef> GetChildren()
    {
        var children = _children;
        if (children is null)
        {
            return [];
        }

        lock (children)
        {
            return children.Entries.Values.Select(entry => entry.Cell.Self).ToArray();
        }
    }

    private ChildEntry? FindChild(string name)
    {
        var children = _children;
        if (children is null)
        {
            return null;
        }

        lock (children)
        {
            return children.Entries.GetValueOrDefault(name);
        }
    }

    private bool HasStoppingChildren()
    {
        var children = _children;
        if (children is null)
        {
            return false;
        }

        lock (children)
        {
            return children.Entries.Values.Any(entry => entry.Stopping);
        }
    }

    private int ChildCount()
    {
        var children = _children;
        if (children is null)
        {
            return 0;
        }

        lock (children)
        {
            return children.Entries.Count;
        }
    }

    private void HandleTerminate()
    {
        if (IsTerminating)
        {
            return;
        }

        // Set under the children lock, so that an ActorOf racing from another thread (the guardian's
        // ActorOf is called from anywhere) either sees the flag or is in the snapshot stopped below.
        lock (EnsureChildren())
        {
            _blocks |= Blocks.Terminating;
        }

        foreach (var child in GetChildren())
        {
            Stop(child);
        }

        if (ChildCount() == 0)
        {
            FinishTerminate();
        }
    }

    private void HandleChildTerminated(ChildTerminated terminated)
    {
        var children = _children;
        if (children is not null)
        {
            lock (children)
            {
                if (children.Entries.TryGetValue(terminated.Child.Path.Name, out var entry) &&
                    ReferenceEquals(entry.Cell.Self, terminated.Child))
                {
                    children.Entries.Remove(terminated.Child.Path.Name);
                }
            }
        }

        if (IsTerminating)
        {
            if (ChildCount() == 0)
            {
                FinishTerminate();
            }
        }
        else if (_pendingRecreateCause is not null && !HasStoppingChildren())
        {
            FinishRecreate();
        }
    }

    private void FinishTerminate()
    {
        var actor = _actor;
        if (actor is not null)
        {
            try
            {
                actor.PostStop();
            }
            catch (Exception exception)
            {
                System.Log(ActorLogLevel.Error, Self.Path, "PostStop threw", exception);
            }
        }

        DropIncarnationState();
        Mailbox.Close();
        TellWatchersWeDied();
        UnwatchEverything();
        _parent.SendSystemMessage(new ChildTerminated(SelfRef));
    }

    private ChildrenContainer EnsureChildren()
    {
        var children = Volatile.Read(ref _children);
        if (children is not null)
        {
            return children;
        }

        Interlocked.CompareExchange(ref _children, new ChildrenContainer(), null);
        return _children!;
    }

    private string NextAutoName()
    {
        // "$a" ... "$z", "$aa", ...: compact, and reserved, since user names cannot start with '$'.
        var number = (long)Interlocked.Increment(ref _nextAutoName);
        Span<char> buffer = stackalloc char[16];
        var position = buffer.Length;
        do
        {
            number--;
            buffer[--position] = (char)('a' + (number % 26));
            number /= 26;
        }
        while (number > 0);

        buffer[--position] = '$';
        return new string(buffer[position..]);
    }

    private static string ValidateName(string name)
    {
        if (name.Length == 0 || name.StartsWith('$') || name.Contains('/') || name.Contains('#'))
        {
            throw new InvalidActorNameException(
                $"Invalid actor name [{name}]: it must be non-empty, must not start with '$' and must not contain '/' or '#'.");
        }

        return name;
    }

    private static int NewUid()
    {
        int uid;
        do
        {
            uid = Random.Shared.Next();
        }
        while (uid == 0);

        return uid;
    }

    private sealed class ChildrenContainer
    {
        public Dictionary<string, ChildEntry> Entries { get; } = new(StringComparer.Ordinal);
    }

    private sealed class ChildEntry(ActorCell cell)
    {
        public ActorCell Cell { get; } = cell;

        /// <summary>Allocated at the first failure: most children never fail.</summary>
        public ChildRestartStats RestartStats => field ??= new ChildRestartStats();

        public bool Stopping { get; set; }
    }
}
