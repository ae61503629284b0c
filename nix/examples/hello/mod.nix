{
  Greeting = "hello from an atom";
}
