"""Hand-written methods of the generated resource classes, one module per top-level resource.

`resource_mixins` in codegen/config.yaml names, per resource path, the class of the matching module here that the
generated class inherits (`models: AsyncModelsMixin` makes `AsyncModels(AsyncModelsMixin, AsyncAPIResource)`).
These modules are imported with their resource module, so they import nothing heavy at module level.
See "Hand-written resource methods" in docs/ARCHITECTURE.md.
"""
