//! The connection rules on in-memory connections under a paused clock:
//! handshake and idle deadlines, eviction at the cap, backoff on accept
//! errors, and the rate-limited log.

use std::sync::atomic::AtomicU64;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

fn limits(max: usize) -> ConnLimits {
    ConnLimits {
        max_connections: max,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        ..ConnLimits::default()
    }
}

/// `n` in-memory connections: the server ends (to be accepted) and the
/// client ends.
fn pairs(n: usize) -> (Vec<DuplexStream>, Vec<DuplexStream>) {
    (0..n).map(|_| tokio::io::duplex(1024)).unzip()
}

async fn read_err(conn: &mut Guarded<DuplexStream>) -> io::Error {
    let mut buf = [0; 64];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(_) => continue,
            Err(e) => return e,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let (servers, _clients) = pairs(1);
    let mut accepted = Box::pin(guard(
        futures::stream::iter(servers.into_iter().map(Ok)),
        limits(8),
    ));
    let mut conn = accepted.next().await.unwrap().unwrap();
    let start = tokio::time::Instant::now();
    let e = read_err(&mut conn).await;
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.to_string().contains("handshake"), "{e}");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_handshake_is_closed_when_idle() {
    let (servers, mut clients) = pairs(1);
    let mut accepted = Box::pin(guard(
        futures::stream::iter(servers.into_iter().map(Ok)),
        limits(8),
    ));
    let mut conn = accepted.next().await.unwrap().unwrap();
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    clients[0].write_all(&[0; 24]).await.unwrap();
    let e = read_err(&mut conn).await;
    assert!(e.to_string().contains("idle"), "{e}");
    assert_eq!(start.elapsed(), Duration::from_secs(65));
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_the_oldest_connection_still_in_its_handshake_makes_room() {
    let (servers, mut clients) = pairs(4);
    let mut accepted = Box::pin(guard(
        futures::stream::iter(servers.into_iter().map(Ok)),
        limits(2),
    ));
    let mut first = accepted.next().await.unwrap().unwrap();
    let mut second = accepted.next().await.unwrap().unwrap();
    // The first completes its handshake: the second is the one evicted.
    clients[0].write_all(&[0; 24]).await.unwrap();
    let mut buf = [0; 24];
    first.read_exact(&mut buf).await.unwrap();
    let third = tokio::spawn(async move {
        let c = accepted.next().await.unwrap().unwrap();
        (c, accepted)
    });
    let e = read_err(&mut second).await;
    assert!(e.to_string().contains("make room"), "{e}");
    drop(second);
    let (third, mut accepted) = tokio::time::timeout(Duration::from_millis(10), third)
        .await
        .expect("admitted at once")
        .unwrap();
    // Closing one makes room for the next at once.
    drop(third);
    let fourth = accepted.next().await.unwrap().unwrap();
    drop((first, fourth));
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_with_every_connection_handshaken_accepting_waits() {
    let (servers, mut clients) = pairs(2);
    let mut accepted = Box::pin(guard(
        futures::stream::iter(servers.into_iter().map(Ok)),
        limits(1),
    ));
    let mut first = accepted.next().await.unwrap().unwrap();
    clients[0].write_all(&[0; 24]).await.unwrap();
    let mut buf = [0; 24];
    first.read_exact(&mut buf).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), accepted.next())
            .await
            .is_err(),
        "no room: the second waits"
    );
    drop(first);
    let second = tokio::time::timeout(Duration::from_millis(10), accepted.next()).await;
    assert!(matches!(second, Ok(Some(Ok(_)))));
}

#[tokio::test(start_paused = true)]
async fn accept_errors_back_off_instead_of_spinning() {
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&pulled);
    let errors = futures::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        Err::<DuplexStream, _>(io::Error::from_raw_os_error(24))
    });
    let mut accepted = Box::pin(guard(errors, limits(8)));
    let _ = tokio::time::timeout(Duration::from_secs(10), accepted.next()).await;
    let n = pulled.load(Ordering::Relaxed);
    // 10, 20, ... 640 ms, then 1 s each: about 16 tries in 10 s.
    assert!((10..=20).contains(&n), "{n} accept attempts in 10 s");
}

#[test]
fn the_rate_limited_log_counts_what_it_dropped() {
    let t0 = Instant::now();
    let mut log = RateLimitedLog::new(Duration::from_secs(10));
    assert_eq!(log.allow(t0), Some(0));
    assert_eq!(log.allow(t0 + Duration::from_secs(1)), None);
    assert_eq!(log.allow(t0 + Duration::from_secs(9)), None);
    assert_eq!(log.allow(t0 + Duration::from_secs(10)), Some(2));
}

#[test]
fn the_default_cap_is_half_the_descriptors_within_bounds() {
    assert_eq!(default_max_connections(256), 128);
    assert_eq!(default_max_connections(1024), 512);
    assert_eq!(default_max_connections(20), 16);
    assert_eq!(default_max_connections(1 << 20), 4096);
}
