"""The only package that imports torch (lazily, inside its functions): build a module and run
one seeded forward pass, observe a user's module, time passes, load trusted TorchScript."""
