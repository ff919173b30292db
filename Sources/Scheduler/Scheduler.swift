// Scheduler: see Package.swift
