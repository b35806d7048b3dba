namespace PgBouncerActors.Actors;

/// <summary>
/// Where an actor sits in the tree (<c>pgba://system/user/pools/appdb</c>) and which incarnation of
/// that name it is: a new actor created under a reused name gets a new <see cref="Uid"/>.
/// </summary>
public sealed class ActorPath
{
    private string? _text;

    internal ActorPath(ActorPath? parent, string name, int uid)
    {
        Parent = parent;
        Name = name;
        Uid = uid;
    }

    public ActorPath? Parent { get; }

    public string Name { get; }

    public int Uid { get; }

    internal static ActorPath Root(string systemName) => new(null, "pgba://" + systemName, 0);

    internal ActorPath Child(string name, int uid) => new(this, name, uid);

    public override string ToString() => _text ??= Parent is null ? Name : Parent + "/" + Name;
}
