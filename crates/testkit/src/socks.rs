//! A SOCKS5 proxy for tests (RFC 1928: no authentication, CONNECT to an IPv4 address only), on
//! 127.0.0.1 with a free port; it counts the connections it carried, so a test can tell a scan
//! went through it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// Starts the proxy; returns its port and the counter of connections carried.
pub fn start_socks5_proxy() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let carried = Arc::new(AtomicUsize::new(0));
    let c = carried.clone();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let c = c.clone();
            thread::spawn(move || session(client, &c));
        }
    });
    (port, carried)
}

fn session(mut client: TcpStream, carried: &AtomicUsize) {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).unwrap();
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).unwrap();
    assert!(head[0] == 5 && methods.contains(&0));
    client.write_all(&[5, 0]).unwrap();
    let mut req = [0u8; 10];
    client.read_exact(&mut req).unwrap();
    assert_eq!(&req[..4], &[5, 1, 0, 1], "CONNECT to an IPv4 address");
    let target = format!(
        "{}.{}.{}.{}:{}",
        req[4],
        req[5],
        req[6],
        req[7],
        u16::from_be_bytes([req[8], req[9]])
    );
    let Ok(upstream) = TcpStream::connect(&target) else {
        client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
        return;
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
    carried.fetch_add(1, Ordering::SeqCst);
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let t = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let (mut client, mut upstream) = (client, upstream);
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = t.join();
}
