namespace PgBouncerActors.Actors;

/// <summary>
/// Keyed timers owned by one actor instance. Starting a key replaces its timer; a timer that was
/// cancelled, replaced, or started by an instance that has since restarted or stopped never
/// delivers, even if it had already fired into the mailbox.
/// </summary>
public interface ITimerScheduler
{
    void StartSingleTimer(object key, object message, TimeSpan delay);

    void StartPeriodicTimer(object key, object message, TimeSpan interval);

    void StartPeriodicTimer(object key, object message, TimeSpan initialDelay, TimeSpan interval);

    bool IsTimerActive(object key);

    void Cancel(object key);

    void CancelAll();
}
