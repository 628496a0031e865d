fn main() {
    println!("meritline: under construction");
}
