"""Pure helpers of the SlicerBridge module (named as Slicer names module libraries)."""  # noqa: N999
