use std::time::Instant;
fn main() {
    let p = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    for _ in 0..3 {
        let t = Instant::now();
        let mut n = 0;
        for d in std::fs::read_dir(p.join("src")).unwrap().flatten() {
            for e in std::fs::read_dir(d.path()).unwrap().flatten() {
                let _ = e.file_type();
                n += e.file_name().len();
            }
        }
        println!("readdir only {:?} {n}", t.elapsed());
    }
}
