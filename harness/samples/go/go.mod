module soakharness/goleaks

go 1.23
