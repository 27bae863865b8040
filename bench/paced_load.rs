//! A paced HTTP/1.1 load generator (std only; `rustc -O bench/paced_load.rs`), because wrk
//! cannot hold a fixed rate. Sends `--rate` requests/s for `--seconds` over `--connections`
//! keep-alive connections; each request is timed from the moment it was *scheduled*, so a
//! stalled server shows up in the percentiles (no coordinated omission).
//!
//! usage: paced_load --url http://127.0.0.1:PORT/path --rate 1000 --seconds 10
//!        [--connections 16] [--body FILE] [--header 'K: V']... [--unique-header NAME]
//! `--unique-header X-GitHub-Delivery` adds that header with a value unique per request.
//! Prints one JSON line: sent, ok (2xx), errors, achieved rate, p50/p90/p99/p999/max in ms.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    host: String,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    body: Vec<u8>,
    headers: Vec<String>,
    unique: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        host: String::new(),
        path: "/".into(),
        rate: 1000.0,
        seconds: 10.0,
        connections: 16,
        body: Vec::new(),
        headers: Vec::new(),
        unique: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => {
                let url = value();
                let rest = url.strip_prefix("http://").expect("http:// URL");
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                a.host = host.to_string();
                a.path = if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                };
            }
            "--rate" => a.rate = value().parse().expect("rate"),
            "--seconds" => a.seconds = value().parse().expect("seconds"),
            "--connections" => a.connections = value().parse().expect("connections"),
            "--body" => a.body = std::fs::read(value()).expect("body file"),
            "--header" => a.headers.push(value()),
            "--unique-header" => a.unique = Some(value()),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Reads one response (status line, headers, Content-Length body); returns the status.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}

fn main() {
    let args = Arc::new(parse_args());
    let total = (args.rate * args.seconds) as u64;
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(Mutex::new(0u64));
    let start = Instant::now() + Duration::from_millis(100);
    let per_conn = total / args.connections as u64;
    let threads: Vec<_> = (0..args.connections)
        .map(|c| {
            let (args, latencies, errors) = (args.clone(), latencies.clone(), errors.clone());
            std::thread::spawn(move || {
                let connect = || {
                    let s = TcpStream::connect(&args.host).expect("connect");
                    s.set_nodelay(true).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    s
                };
                let mut stream = connect();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                // Offset each connection within the interval so sends are spread evenly.
                let offset = interval.mul_f64(c as f64 / args.connections as f64);
                let mut mine = Vec::with_capacity(per_conn as usize);
                for i in 0..per_conn {
                    let scheduled = start + offset + interval.mul_f64(i as f64);
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let mut head = format!(
                        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
                        args.path,
                        args.host,
                        args.body.len()
                    );
                    for h in &args.headers {
                        head.push_str(h);
                        head.push_str("\r\n");
                    }
                    if let Some(name) = &args.unique {
                        head.push_str(&format!("{name}: paced-{}-{c}-{i}\r\n", std::process::id()));
                    }
                    head.push_str("\r\n");
                    let sent = stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(&args.body));
                    match sent.and_then(|_| read_response(&mut reader)) {
                        Ok(status) if (200..300).contains(&status) => {
                            mine.push(scheduled.elapsed().as_secs_f64() * 1000.0)
                        }
                        _ => {
                            *errors.lock().unwrap() += 1;
                            stream = connect();
                            reader = BufReader::new(stream.try_clone().unwrap());
                        }
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((l.len() as f64 * p) as usize).min(l.len() - 1)]
        }
    };
    println!(
        "{{\"sent\": {}, \"ok\": {}, \"errors\": {}, \"rate\": {:.0}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"p99_ms\": {:.3}, \"p999_ms\": {:.3}, \"max_ms\": {:.3}}}",
        per_conn * args.connections as u64,
        l.len(),
        errors.lock().unwrap(),
        l.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        l.last().copied().unwrap_or(f64::NAN)
    );
}
