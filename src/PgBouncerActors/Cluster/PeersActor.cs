using Akka.Actor;
using Akka.Cluster;
using PgBouncerActors.Backend;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Cluster;

/// <summary>
/// One per instance of a cluster (/user/peers): the members it sees, which peer_id each has (its
/// role "peer-N"), and the cancel requests that cross between instances. A cancel whose key names
/// another peer goes to that peer's own peers actor, which finds the client's route and sends the
/// server its key, exactly as for a cancel that arrived there directly. A cancel for a peer that
/// is not in the cluster is dropped, as PostgreSQL drops an unknown key.
/// </summary>
internal sealed class PeersActor : ReceiveActor
{
    public const string Name = "peers";
    private const string RolePrefix = "peer-";

    private readonly PoolerServices _services;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<Address, Member> _members = [];
    private readonly HashSet<Address> _unreachable = [];

    public PeersActor(PoolerServices services)
    {
        _services = services;
        Receive<ClusterEvent.MemberRemoved>(removed =>
        {
            _members.Remove(removed.Member.Address);
            _unreachable.Remove(removed.Member.Address);
        });
        Receive<ClusterEvent.IMemberEvent>(changed => _members[changed.Member.Address] = changed.Member);
        Receive<ClusterEvent.UnreachableMember>(unreachable => _unreachable.Add(unreachable.Member.Address));
        Receive<ClusterEvent.ReachableMember>(reachable => _unreachable.Remove(reachable.Member.Address));
        Receive<ForwardCancel>(OnForwardCancel);
        Receive<PeerCancel>(OnPeerCancel);
        Receive<DescribePeers>(_ => Sender.Tell(Describe(), Self));
    }

    public static Props Props(PoolerServices services) => Akka.Actor.Props.Create(() => new PeersActor(services));

    /// <summary>The role that tells the others this instance's peer_id.</summary>
    public static string RoleOf(int peerId) => RolePrefix + peerId;

    private static int PeerIdOf(Member member) =>
        member.Roles.Select(role => role.StartsWith(RolePrefix, StringComparison.Ordinal) && int.TryParse(role.AsSpan(RolePrefix.Length), out var id) ? id : 0)
            .FirstOrDefault(id => id != 0);

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnForwardCancel(ForwardCancel cancel)
    {
        var peer = _members.Values.FirstOrDefault(member => PeerIdOf(member) == cancel.PeerId && member.Status != MemberStatus.Removed);
        if (peer is null || _unreachable.Contains(peer.Address))
        {
            _services.Log.Information("cancel request for peer {Peer} dropped: no such instance {State}", cancel.PeerId,
                peer is null ? "in the cluster" : "reachable now");
            return;
        }

        Context.ActorSelection(new RootActorPath(peer.Address) / "user" / Name).Tell(new PeerCancel(cancel.ProcessId, cancel.SecretKey), Self);
        _services.Log.Information("cancel request forwarded to peer {Peer} at {Address}", cancel.PeerId, peer.Address);
    }

    private void OnPeerCancel(PeerCancel cancel)
    {
        var route = _services.CancelKeys.Find(cancel.ProcessId, cancel.SecretKey);
        if (route?.BeginCancel() is not { } target)
        {
            return; // unknown key, or a client between transactions: nothing to cancel, as for a cancel that came here directly
        }

        _services.Log.Information("cancel request from peer {Peer}: server={Server} pid={Pid}", Sender.Path.Address, target.Endpoint, target.ProcessId);
        var log = _services.Log;
        _ = ServerCancel.SendForAsync(route, target).ContinueWith(sent =>
            log.Warning("forwarded cancel request to {Server} failed: {Error}", target.Endpoint, sent.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private PeersDescribed Describe()
    {
        var self = _cluster.SelfAddress;
        var rows = _members.Values.OrderBy(member => PeerIdOf(member)).ThenBy(member => member.Address.ToString())
            .Select(member => new PeerRow(member.Address.ToString(), member.Address.Host ?? "", member.Address.Port ?? 0, PeerIdOf(member),
                member.Status.ToString().ToLowerInvariant(), !_unreachable.Contains(member.Address), member.Address.Equals(self)))
            .ToList();
        // The budget coordinator is a cluster singleton: it runs on the oldest member that is up.
        var oldest = _members.Values.Where(member => member.Status == MemberStatus.Up).OrderBy(member => member, Member.AgeOrdering).FirstOrDefault();
        return new PeersDescribed(rows, oldest?.Address.ToString());
    }
}
